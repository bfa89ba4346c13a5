"""``ModelThread``: the one thread a model runs on, and the cheapest way to get work there and back.

Why not ``loop.run_in_executor`` with a ``ThreadPoolExecutor``: each call builds a
``concurrent.futures.Future``, takes the pool's semaphore and condition locks, and chains a second
future back to the loop; under load that bookkeeping, not ``session.run``, was the largest single
item of the event loop's own time in the profile (``docs/performance.md``). Here a call is one
tuple on a ``queue.SimpleQueue`` (a C queue) and one ``call_soon_threadsafe`` back: about half the
cost per hop (``python -m benchmarks.bench_overhead`` measures the hop).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any]", asyncio.AbstractEventLoop]


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():  # the awaiting request went away; nobody reads this
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class ModelThread:
    """One daemon thread running submitted calls in order (a model's runs are serial anyway)."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, args, future, loop = job
            try:
                result, error = fn(*args), None
            except BaseException as exc:  # handed to the awaiting coroutine, which raises it
                result, error = None, exc
            loop.call_soon_threadsafe(_settle, future, result, error)

    def run(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run ``fn(*args)`` on this thread; the returned future resolves on the calling loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((fn, args, future, loop))
        return future

    def close(self) -> None:
        """Finish the calls already submitted, then stop the thread."""
        self._jobs.put(None)
        self._thread.join()
