"""Triton statistics-extension counters per model (``GET /v2/models/{name}/stats``).

Mapping of our phases onto Triton's: ``queue`` → queue, ``preprocess`` → compute_input,
``inference`` → compute_infer, ``postprocess`` → compute_output; ``success`` holds total time.

The counters live in a :class:`~service.workers.shared.Slab` of int64 slots, so that with
``--workers N`` each worker adds to its own and a read sums them all; the batching queue's
refusals and depth live there too, for the same reason (``/metrics`` reads them).
"""

from __future__ import annotations

import time
from typing import Any

from service.settings import MAX_ROWS
from service.timing import Timing
from service.workers.shared import COUNTERS

STAT_KEYS = ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output")

# Slot layout: (count, ns) per STAT_KEYS entry, then the scalars, then 4 slots per batch size.
_INFERENCES, _EXECUTIONS, _LAST_MS, _REJECTED, _DROPPED, _DEPTH = range(12, 18)
_BATCHES = 32
#: slots that go down again: zeroed when their worker dies
GAUGE_SLOTS = (_DEPTH,)


class ModelStats:
    """One model's counters; ``ModelStats()`` alone is private to its process (tests, tools)."""

    def __init__(self, name: str = "model") -> None:
        self._slab = COUNTERS.slab(name, _BATCHES + 4 * MAX_ROWS)
        self._v = self._slab.values

    def record_success(self, timing: Timing, batch: int) -> None:
        v = self._v
        v[0] += 1  # success: the total
        v[1] += timing.total_ns
        v[4] += 1  # queue (slots 2, 3 are "fail")
        v[5] += timing.queue_ns
        v[6] += 1  # compute_input
        v[7] += timing.preprocess_ns
        v[8] += 1  # compute_infer
        v[9] += timing.inference_ns
        v[10] += 1  # compute_output
        v[11] += timing.postprocess_ns
        v[_INFERENCES] += batch
        v[_LAST_MS] = int(time.time() * 1000)

    def record_batch(self, size: int, input_ns: int, infer_ns: int, output_ns: int) -> None:
        """One ``session.run`` of ``size`` rows (Triton's batch_stats and execution_count).

        compute_input is the merge of the members' tensors, compute_output the split back.
        """
        v = self._v
        base = _BATCHES + 4 * (size - 1)
        v[base] += 1
        v[base + 1] += input_ns
        v[base + 2] += infer_ns
        v[base + 3] += output_ns
        v[_EXECUTIONS] += 1

    def record_failure(self, ns: int) -> None:
        self._v[2] += 1
        self._v[3] += ns

    def record_refused(self, reason: str) -> None:
        """A request the batching queue refused (``queue_full``) or dropped (``client_gone``)."""
        self._v[_REJECTED if reason == "queue_full" else _DROPPED] += 1

    def record_depth(self, depth: int) -> None:
        """The batching queue's length now (a gauge: each worker's own, summed on read)."""
        self._v[_DEPTH] = depth

    @property
    def counts(self) -> dict[str, list[int]]:
        t = self._slab.totals()
        return {k: [int(t[2 * i]), int(t[2 * i + 1])] for i, k in enumerate(STAT_KEYS)}

    @property
    def batches(self) -> dict[int, list[int]]:
        """batch size → [executions, compute_input ns, compute_infer ns, compute_output ns]."""
        table = self._slab.totals()[_BATCHES:].reshape(MAX_ROWS, 4)
        return {int(i) + 1: [int(x) for x in table[i]] for i in table[:, 0].nonzero()[0]}

    @property
    def inference_count(self) -> int:
        return int(self._slab.totals()[_INFERENCES])

    @property
    def execution_count(self) -> int:
        return int(self._slab.totals()[_EXECUTIONS])

    @property
    def last_inference_ms(self) -> int:
        return self._slab.maxima(_LAST_MS)

    def queue(self) -> tuple[int, int, int]:
        """(depth now, refused because full, dropped because the client left), over every worker."""
        t = self._slab.totals()
        return int(t[_DEPTH]), int(t[_REJECTED]), int(t[_DROPPED])

    def as_triton(self, name: str, version: str) -> dict[str, Any]:
        t = self._slab.totals()
        table = t[_BATCHES:].reshape(MAX_ROWS, 4)
        return {
            "name": name,
            "version": version,
            "last_inference": self.last_inference_ms,
            "inference_count": int(t[_INFERENCES]),
            "execution_count": int(t[_EXECUTIONS]),
            "inference_stats": {
                **{k: {"count": int(t[2 * i]), "ns": int(t[2 * i + 1])} for i, k in enumerate(STAT_KEYS)},
                "cache_hit": {"count": 0, "ns": 0},
                "cache_miss": {"count": 0, "ns": 0},
            },
            "batch_stats": [
                {
                    "batch_size": int(i) + 1,
                    **{
                        key: {"count": int(table[i, 0]), "ns": int(ns)}
                        for key, ns in zip(
                            ("compute_input", "compute_infer", "compute_output"), table[i, 1:], strict=True
                        )
                    },
                }
                for i in table[:, 0].nonzero()[0]
            ],
        }
