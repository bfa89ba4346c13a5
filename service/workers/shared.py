"""Counters that add up across worker processes: one int64 slab per model and process.

Why files: with ``--workers N`` a scrape of ``/metrics`` or ``/v2/models/m/stats`` lands on one
worker, but the answer must cover all of them. Each worker writes only its own slab (a memory map
of ``<dir>/<model>.<pid>.stats``: no locks, no messages, an in-place add costs what a Python int
add costs) and a read sums every slab of the model, live or dead, as Prometheus's multiprocess mode
does for counters. Gauges (slots that go down again) are zeroed by the supervisor when their worker
dies (:func:`forget_gauges`), so a crashed worker's queue does not stay counted.

Without workers the slab is a plain ``bytearray`` and a read is the slab itself.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import numpy as np


class Slab:
    """``size`` int64 slots: ``values`` is this process's, :meth:`totals` everyone's.

    The file is ``<name>.<pid>.<kind>``: model names hold no dot, so ``<name>.*.<kind>`` finds
    exactly the workers' slabs of one model and kind.
    """

    def __init__(self, name: str, size: int, directory: Path | None, kind: str = "stats") -> None:
        self.name = name
        self.size = size
        self.kind = kind
        self._directory = directory
        self._peers: dict[Path, np.ndarray] = {}
        if directory is None:
            self._buffer: bytearray | mmap.mmap = bytearray(8 * size)
            self._path: Path | None = None
        else:
            self._path = directory / f"{name}.{os.getpid()}.{kind}"
            # Opened without truncating: a second slab of the same name in this process (a reader,
            # or the same model met twice) maps the same slots instead of zeroing them.
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                if os.fstat(fd).st_size < 8 * size:
                    os.ftruncate(fd, 8 * size)
                self._buffer = mmap.mmap(fd, 8 * size)
            finally:
                os.close(fd)
        #: this process's slots; ``values[i] += n`` is the whole write path
        self.values = memoryview(self._buffer).cast("q")

    def each(self) -> list[np.ndarray]:
        """Every process's slots, this one's first (views: they change as the workers write)."""
        slabs = [np.frombuffer(self._buffer, dtype=np.int64)]
        if self._directory is not None:
            paths = self._directory.glob(f"{self.name}.*.{self.kind}")
            slabs += [self._peer(path) for path in paths if path != self._path]
        return slabs

    def totals(self) -> np.ndarray:
        """Every process's slots, summed (a copy: the caller may combine slots freely)."""
        total = np.zeros(self.size, dtype=np.int64)
        for slab in self.each():
            total += slab
        return total

    def maxima(self, slot: int) -> int:
        """The largest value of one slot over every process (a timestamp, say)."""
        return max(int(slab[slot]) for slab in self.each())

    def _peer(self, path: Path) -> np.ndarray:
        """A peer's slab, mapped read-only once (a peer never changes its file's size)."""
        slab = self._peers.get(path)
        if slab is None:
            with path.open("rb") as f:
                slab = self._peers[path] = np.frombuffer(
                    mmap.mmap(f.fileno(), 8 * self.size, access=mmap.ACCESS_READ), dtype=np.int64
                )
        return slab


class CounterSpace:
    """Where this process's counters live: in memory, or under the workers' shared folder."""

    def __init__(self) -> None:
        #: the slabs' folder (``<root>/stats``) in a worker, else None
        self.directory: Path | None = None
        #: prometheus_client's multiprocess folder (``<root>/prometheus``) in a worker, else None
        self.metrics_dir: Path | None = None

    def share(self, root: Path) -> None:
        """From now on, counters are files under ``root`` that the other workers read too."""
        self.directory, self.metrics_dir = layout(root)

    def slab(self, name: str, size: int, kind: str = "stats") -> Slab:
        return Slab(name, size, self.directory, kind)


def layout(root: Path) -> tuple[Path, Path]:
    """The slabs' folder and prometheus_client's, under the workers' shared ``root`` (created)."""
    stats, metrics = root / "stats", root / "prometheus"
    stats.mkdir(parents=True, exist_ok=True)
    metrics.mkdir(parents=True, exist_ok=True)
    return stats, metrics


def forget_gauges(directory: Path, pid: int, slots: tuple[int, ...]) -> None:
    """Zero the gauge ``slots`` in every stats slab of the dead worker ``pid``; counters stay counted."""
    for path in directory.glob(f"*.{pid}.stats"):
        with path.open("r+b") as f, mmap.mmap(f.fileno(), 0) as buffer:
            values = memoryview(buffer).cast("q")
            for slot in slots:
                values[slot] = 0
            values.release()


#: One per process, like the event loop: the supervisor shares it in each worker before the app exists.
COUNTERS = CounterSpace()
