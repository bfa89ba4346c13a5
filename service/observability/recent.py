"""Recent latency percentiles per model (``GET /v1/latency``), for the dashboard and for humans.

Prometheus histograms answer "p99 over a window" only through a Prometheus server, and the
Triton statistics are cumulative sums with no percentiles. So each model keeps a fixed ring of
its last ``window`` successful request totals, written where the data plane records a success:
two stores into preallocated ``array('q')`` slots, O(1) and without allocating per request. The
percentiles are computed when somebody asks (a copy and a sort of at most ``window`` values).
"""

from __future__ import annotations

import time
from array import array
from typing import Any

import numpy as np

from service.timing import ms, now_ns


class LatencyRing:
    """The last ``size`` successful totals of one model and when each started (perf-counter ns)."""

    __slots__ = ("count", "size", "start_ns", "total_ns")

    def __init__(self, size: int) -> None:
        self.size = size
        self.total_ns = array("q", bytes(8 * size))
        self.start_ns = array("q", bytes(8 * size))
        #: successes recorded since start-up (the next slot is ``count % size``)
        self.count = 0

    def record(self, total_ns: int, start_ns: int) -> None:
        """Overwrite the oldest slot: a fixed memory cost however long the server runs."""
        slot = self.count % self.size
        self.total_ns[slot] = total_ns
        self.start_ns[slot] = start_ns
        self.count += 1

    def summary(self, now: int) -> dict[str, Any]:
        """Percentiles over the ring; ``span_s`` is how much time its samples cover, ``age_s`` how
        long ago the newest one finished, so a reader can tell a busy model from an idle one."""
        n = min(self.count, self.size)
        out: dict[str, Any] = {"count": self.count, "n": n}
        if n == 0:
            return out
        totals = np.frombuffer(self.total_ns, dtype=np.int64)[:n]
        done = np.frombuffer(self.start_ns, dtype=np.int64)[:n] + totals
        p50, p90, p99 = np.percentile(totals, (50, 90, 99))
        newest = int(done.max())
        return {
            **out,
            "p50_ms": ms(int(p50)),
            "p90_ms": ms(int(p90)),
            "p99_ms": ms(int(p99)),
            "max_ms": ms(int(totals.max())),
            "mean_ms": ms(int(totals.mean())),
            "span_s": round((newest - int(done.min())) / 1e9, 3),
            "age_s": round((now - newest) / 1e9, 3),
        }


class RecentLatencies:
    """One :class:`LatencyRing` per model, made at start-up for every served name."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.rings: dict[str, LatencyRing] = {}

    def add_models(self, names: list[str]) -> None:
        """Allocate the rings once, at start-up, so that :meth:`record` never allocates."""
        for name in names:
            self.rings.setdefault(name, LatencyRing(self.window))

    def record(self, model: str, total_ns: int, start_ns: int) -> None:
        """One success of ``model`` (a name without a ring, which start-up did not list, is ignored)."""
        ring = self.rings.get(model)
        if ring is not None:
            ring.record(total_ns, start_ns)

    def snapshot(self) -> dict[str, Any]:
        now = now_ns()
        return {
            "window": self.window,
            "time_unix_ms": int(time.time() * 1000),
            "models": [{"model": name, **ring.summary(now)} for name, ring in self.rings.items()],
        }
