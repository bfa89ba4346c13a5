"""Recent latency percentiles per model (``GET /v1/latency``), for the dashboard and for humans.

Prometheus histograms answer "p99 over a window" only through a Prometheus server, and the
Triton statistics are cumulative sums with no percentiles. So each model keeps a fixed ring of
its last ``window`` successful request totals, written where the data plane records a success:
three stores into preallocated int64 slots, O(1) and without allocating per request. The
percentiles are computed when somebody asks (a copy and a sort of at most ``window`` values
per worker).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from service.timing import ms, now_ns
from service.workers.shared import COUNTERS


class LatencyRing:
    """The last ``size`` successful totals of one model and when each started (perf-counter ns).

    Slot 0 of the slab counts successes, then ``size`` totals, then ``size`` start times. With
    ``--workers N`` each worker writes its own ring and a summary merges them all, keeping the
    newest ``size`` by finish time: ``perf_counter`` is the system-wide monotonic clock, so the
    workers' times compare.
    """

    __slots__ = ("_slab", "_v", "size")

    def __init__(self, name: str, size: int) -> None:
        self.size = size
        self._slab = COUNTERS.slab(name, 1 + 2 * size, kind="latency")
        self._v = self._slab.values

    @property
    def count(self) -> int:
        """Successes recorded since start-up, by every worker."""
        return sum(int(slab[0]) for slab in self._slab.each())

    def record(self, total_ns: int, start_ns: int) -> None:
        """Overwrite the oldest slot: a fixed memory cost however long the server runs."""
        v = self._v
        slot = v[0] % self.size
        v[1 + slot] = total_ns
        v[1 + self.size + slot] = start_ns
        v[0] += 1

    def samples(self) -> tuple[int, np.ndarray, np.ndarray]:
        """(successes in all, the newest ``size`` totals, their finish times) over every worker."""
        count, totals, done = 0, [], []
        for slab in self._slab.each():
            n = min(int(slab[0]), self.size)
            count += int(slab[0])
            total = slab[1 : 1 + n].copy()
            totals.append(total)
            done.append(slab[1 + self.size : 1 + self.size + n] + total)
        all_totals, all_done = np.concatenate(totals), np.concatenate(done)
        if all_totals.size > self.size:
            newest = np.argsort(all_done)[-self.size :]
            all_totals, all_done = all_totals[newest], all_done[newest]
        return count, all_totals, all_done

    def summary(self, now: int) -> dict[str, Any]:
        """Percentiles over the ring; ``span_s`` is how much time its samples cover, ``age_s`` how
        long ago the newest one finished, so a reader can tell a busy model from an idle one."""
        count, totals, done = self.samples()
        out: dict[str, Any] = {"count": count, "n": int(totals.size)}
        if totals.size == 0:
            return out
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
            if name not in self.rings:
                self.rings[name] = LatencyRing(name, self.window)

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
