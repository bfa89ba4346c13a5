"""Progress bars for the long runs (``rnn-serve models`` and the sweeps take from minutes to an hour).

One place so every loop looks the same: a rich bar with elapsed and remaining time, on stderr,
with the training loop's per-epoch lines printed above it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

from rich.console import Console
from rich.progress import track

T = TypeVar("T")
_CONSOLE = Console(stderr=True)


def tracked(items: Sequence[T], description: str) -> Iterable[T]:
    """``items`` with a progress bar (one step per item) labelled ``description``."""
    return track(items, description=description, total=len(items), console=_CONSOLE)
