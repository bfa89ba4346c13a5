"""The runtime actually in force, in the spelling of a Triton model config (``.../config``).

The LSTM/GRU speed ranking flips with the intra-op thread count (feasibility.md §2), so a
latency figure means little without the runtime that produced it: every model's config says it.
"""

from __future__ import annotations

from typing import Any


def runtime_config(info: dict[str, Any]) -> dict[str, Any]:
    """``ModelRunner.runtime_info()`` → Triton's ``dynamic_batching``/``optimization``/``parameters``
    keys plus ``runtime`` (the same facts, unabbreviated, as ``GET /v1/models`` lists them)."""
    batching = info["batching"]
    out: dict[str, Any] = {
        "optimization": {"graph": {"level": info["graph_optimization_level"]},
                         "execution_accelerators": {"cpu_execution_accelerator": []}},
        "parameters": {
            "intra_op_thread_count": {"string_value": str(info["intra_op_threads"])},
            "inter_op_thread_count": {"string_value": str(info["inter_op_threads"])},
        },
        "runtime": info,
    }
    if batching["enabled"]:
        out["dynamic_batching"] = {
            "preferred_batch_size": [],
            "max_queue_delay_microseconds": batching["max_queue_delay_us"],
            "preserve_ordering": True,
            "default_queue_policy": {"max_queue_size": batching["max_queue_size"], "timeout_action": "REJECT",
                                     "default_timeout_microseconds": 0, "allow_timeout_override": False},
            "max_batch_rows": batching["max_batch_size"],
        }
    return out
