"""Model metadata and the Triton model configuration (``GET /v2/models/{m}`` and ``.../config``).

Both are derived from the package (``model.json``) and from the runtime actually in force: the
LSTM/GRU speed ranking flips with the intra-op thread count, so a latency figure means little
without the runtime that produced it, and every model's config says it.
"""

from __future__ import annotations

from typing import Any

from service.errors import ModelNotReady
from service.package import TensorSpec
from service.runtime.repository import LoadedModel

PLATFORM = "onnxruntime_onnx"


def metadata(model: LoadedModel) -> dict[str, Any]:
    """V2 model metadata, plus the load error's public reason when the model is not ready."""
    out: dict[str, Any] = {"name": model.name, "versions": [model.version], "platform": PLATFORM}
    if model.package is not None:
        out["inputs"] = [s.model_dump() for s in model.package.inputs]
        out["outputs"] = [s.model_dump() for s in model.package.outputs]
    if model.task is not None:
        out["parameters"] = {"max_sequence_length": model.task.max_sequence_length}
    out["state"] = "READY" if model.ready else "UNAVAILABLE"
    if model.error:
        out["error"] = model.error
    return out


def _runtime(info: dict[str, Any]) -> dict[str, Any]:
    """``ModelRunner.runtime_info()`` → Triton's ``dynamic_batching``/``optimization``/``parameters``
    keys plus ``runtime`` (the same facts, unabbreviated, as ``GET /v1/models`` lists them)."""
    batching = info["batching"]
    out: dict[str, Any] = {
        "optimization": {
            "graph": {"level": info["graph_optimization_level"]},
            "execution_accelerators": {"cpu_execution_accelerator": []},
        },
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
            "default_queue_policy": {
                "max_queue_size": batching["max_queue_size"],
                "timeout_action": "REJECT",
                "default_timeout_microseconds": 0,
                "allow_timeout_override": False,
            },
            "max_batch_rows": batching["max_batch_rows"],
        }
    return out


def model_config(model: LoadedModel, max_request_rows: int, sequence_batching: dict[str, Any] | None) -> dict[str, Any]:
    """Triton model-config JSON: dims exclude the batch axis; per-row scalars use Triton's reshape."""
    if model.package is None or model.task is None or model.runner is None:
        raise ModelNotReady(f"model {model.name!r} is not ready: {model.error}", field="model")
    optional = model.task.optional_inputs

    def tensor(spec: TensorSpec, is_input: bool) -> dict[str, Any]:
        dims = spec.shape[1:]
        entry: dict[str, Any] = {"name": spec.name, "data_type": f"TYPE_{spec.datatype}", "dims": dims or [1]}
        if not dims:
            entry["reshape"] = {"shape": []}
        if is_input:
            entry["optional"] = spec.name in optional
        return entry

    out: dict[str, Any] = {
        "name": model.name,
        "platform": PLATFORM,
        "backend": "onnxruntime",
        "max_batch_size": max_request_rows,
        "input": [tensor(s, True) for s in model.package.inputs],
        "output": [tensor(s, False) for s in model.package.outputs],
        "version_policy": {"latest": {"num_versions": 1}},
        "instance_group": [{"name": model.name, "kind": "KIND_CPU", "count": 1}],
        **_runtime(model.runner.runtime_info()),
    }
    out["parameters"]["max_sequence_length"] = {"string_value": str(model.task.max_sequence_length)}
    if sequence_batching is not None:
        out["sequence_batching"] = sequence_batching
    return out
