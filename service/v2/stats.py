"""Triton statistics-extension counters per model (``GET /v2/models/{name}/stats``).

Mapping of our phases onto Triton's: ``queue`` → queue, ``preprocess`` → compute_input,
``inference`` → compute_infer, ``postprocess`` → compute_output; ``success`` holds total time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from service.timing import Timing

STAT_KEYS = ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output")


@dataclass
class ModelStats:
    counts: dict[str, list[int]] = field(default_factory=lambda: {k: [0, 0] for k in STAT_KEYS})
    inference_count: int = 0
    execution_count: int = 0
    last_inference_ms: int = 0
    #: batch size → [executions, compute_input ns, compute_infer ns, compute_output ns]
    batches: dict[int, list[int]] = field(default_factory=dict)

    def record_success(self, timing: Timing, batch: int) -> None:
        for key, ns in (
            ("success", timing.total_ns),
            ("queue", timing.queue_ns),
            ("compute_input", timing.preprocess_ns),
            ("compute_infer", timing.inference_ns),
            ("compute_output", timing.postprocess_ns),
        ):
            self.counts[key][0] += 1
            self.counts[key][1] += ns
        self.inference_count += batch
        self.last_inference_ms = int(time.time() * 1000)

    def record_batch(self, size: int, input_ns: int, infer_ns: int, output_ns: int) -> None:
        """One ``session.run`` of ``size`` rows (Triton's batch_stats and execution_count).

        compute_input is the merge of the members' tensors, compute_output the split back.
        """
        entry = self.batches.get(size)
        if entry is None:
            entry = self.batches[size] = [0, 0, 0, 0]
        entry[0] += 1
        entry[1] += input_ns
        entry[2] += infer_ns
        entry[3] += output_ns
        self.execution_count += 1

    def record_failure(self, ns: int) -> None:
        self.counts["fail"][0] += 1
        self.counts["fail"][1] += ns

    def as_triton(self, name: str, version: str) -> dict[str, Any]:
        return {
            "name": name,
            "version": version,
            "last_inference": self.last_inference_ms,
            "inference_count": self.inference_count,
            "execution_count": self.execution_count,
            "inference_stats": {
                **{k: {"count": c, "ns": ns} for k, (c, ns) in self.counts.items()},
                "cache_hit": {"count": 0, "ns": 0},
                "cache_miss": {"count": 0, "ns": 0},
            },
            "batch_stats": [
                {
                    "batch_size": size,
                    **{
                        key: {"count": n, "ns": ns}
                        for key, ns in zip(("compute_input", "compute_infer", "compute_output"), rest, strict=True)
                    },
                }
                for size, (n, *rest) in sorted(self.batches.items())
            ],
        }
