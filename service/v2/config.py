"""Model metadata and the Triton model configuration (``GET /v2/models/{m}`` and ``.../config``).

Both are derived from the package (``model.json``) and from the runtime actually in force: the
LSTM/GRU speed ranking flips with the intra-op thread count, so a latency figure means little
without the runtime that produced it, and every model's config says it.
"""

from __future__ import annotations

from typing import Any

from service import __version__
from service.errors import ModelNotReady
from service.package import TensorSpec
from service.runtime.repository import LoadedModel
from service.streaming.streams import StreamVariant

PLATFORM = "onnxruntime_onnx"
#: the V2 extensions both front ends (REST and gRPC) implement
EXTENSIONS = ["binary_tensor_data", "statistics", "model_configuration", "parameters", "sequence"]


def server_metadata() -> dict[str, Any]:
    return {"name": "rnn-serve", "version": __version__, "extensions": EXTENSIONS}


def _tensor_metadata(spec: TensorSpec) -> dict[str, Any]:
    """A tensor as V2 metadata describes it: a per-row scalar (``[-1]`` in model.json) is
    ``[-1, 1]``, the batch axis plus config dims ``[1]``, as Triton reports such an input."""
    return {"name": spec.name, "datatype": spec.datatype, "shape": spec.shape if len(spec.shape) > 1 else [-1, 1]}


def metadata(model: LoadedModel) -> dict[str, Any]:
    """V2 model metadata, plus the load error's public reason when the model is not ready."""
    out: dict[str, Any] = {"name": model.name, "versions": [model.version], "platform": PLATFORM}
    if model.package is not None:
        implicit = model.task.implicit_inputs if model.task is not None else frozenset()
        out["inputs"] = [_tensor_metadata(s) for s in model.package.inputs if s.name not in implicit]
        out["outputs"] = [_tensor_metadata(s) for s in model.package.outputs]
    if model.task is not None and model.package is not None:
        out["parameters"] = {
            "max_sequence_length": model.task.max_sequence_length,
            "precision": model.package.precision,
        }
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


def model_config(model: LoadedModel, max_request_rows: int) -> dict[str, Any]:
    """Triton model-config JSON: dims exclude the batch axis; a per-row scalar has dims ``[1]``
    (no ``reshape``: perf_analyzer cannot build an input whose reshaped shape is empty)."""
    if model.package is None or model.task is None or model.runner is None:
        raise ModelNotReady(f"model {model.name!r} is not ready: {model.error}", field="model")
    implicit = model.task.implicit_inputs

    def tensor(spec: TensorSpec, is_input: bool) -> dict[str, Any]:
        dims = spec.shape[1:]
        entry: dict[str, Any] = {"name": spec.name, "data_type": f"TYPE_{spec.datatype}", "dims": dims or [1]}
        if is_input:
            entry["optional"] = False
        return entry

    out: dict[str, Any] = {
        "name": model.name,
        "platform": PLATFORM,
        "backend": "onnxruntime",
        "max_batch_size": max_request_rows,
        "input": [tensor(s, True) for s in model.package.inputs if s.name not in implicit],
        "output": [tensor(s, False) for s in model.package.outputs],
        "version_policy": {"latest": {"num_versions": 1}},
        "instance_group": [{"name": model.name, "kind": "KIND_CPU", "count": 1}],
        **_runtime(model.runner.runtime_info()),
    }
    out["parameters"]["max_sequence_length"] = {"string_value": str(model.task.max_sequence_length)}
    out["parameters"]["precision"] = {"string_value": model.package.precision}
    return out


def stream_metadata(variant: StreamVariant) -> dict[str, Any]:
    """V2 metadata of a stateful variant: the step model's chunk tensors (time axis free)."""
    spec = variant.step.spec
    return {
        "name": variant.name,
        "versions": [variant.base.version],
        "platform": PLATFORM,
        "inputs": [_tensor_metadata(t) for t in spec.inputs],
        "outputs": [_tensor_metadata(t) for t in spec.outputs],
        "parameters": {"max_sequence_length": variant.base.task.max_sequence_length if variant.base.task else 0},
        "state": "READY" if variant.base.ready else "UNAVAILABLE",
    }


def stream_config(variant: StreamVariant, sequence_batching: dict[str, Any]) -> dict[str, Any]:
    """Triton model-config JSON of a stateful variant: one row per request, Triton's sequence
    batcher with implicit state, and no dynamic batching (one scheduler per model)."""
    spec = variant.step.spec
    info = variant.step.runner.runtime_info()
    runtime = _runtime(info)
    runtime.pop("dynamic_batching", None)
    max_steps = variant.base.task.max_sequence_length if variant.base.task else 0
    runtime["parameters"]["max_sequence_length"] = {"string_value": str(max_steps)}
    return {
        "name": variant.name,
        "platform": PLATFORM,
        "backend": "onnxruntime",
        "max_batch_size": 1,
        "input": [
            {"name": t.name, "data_type": f"TYPE_{t.datatype}", "dims": t.shape[1:], "optional": False}
            for t in spec.inputs
        ],
        "output": [{"name": t.name, "data_type": f"TYPE_{t.datatype}", "dims": t.shape[1:]} for t in spec.outputs],
        "version_policy": {"latest": {"num_versions": 1}},
        "instance_group": [{"name": variant.name, "kind": "KIND_CPU", "count": 1}],
        **runtime,
        "sequence_batching": sequence_batching,
    }
