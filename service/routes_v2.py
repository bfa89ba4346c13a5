"""KServe V2 / Open Inference Protocol REST, as Triton spells it (so tritonclient and
perf_analyzer work): health, server/model metadata, model config, statistics, infer.

Infer feeds the model's ONNX tensors directly; preprocessing is the client's job here.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service import __version__
from service.direct_route import DirectRoute
from service.errors import ModelNotFound, ModelNotReady, ServiceError
from service.http_io import json_response, read_body
from service.pipeline import infer_tensors, record
from service.repository import LoadedModel, ModelRepository
from service.routes_stream import sequence_batching_config, sequence_parameters, v2_sequence_infer
from service.runtime_config import runtime_config
from service.timing import Timing, now_ns
from service.v2_codec import decode_inputs, encode_outputs, encode_response, requested_outputs, split_body

router = APIRouter(prefix="/v2", tags=["KServe V2 (Triton-compatible)"])

EXTENSIONS = ["binary_tensor_data", "statistics", "model_configuration", "parameters"]
#: Inputs a V2 client may leave out (the task pipeline fills them in).
OPTIONAL_INPUTS = {"sentiment": {"lengths"}}


def _model(request: Request, name: str, version: str | None = None) -> LoadedModel:
    repo: ModelRepository = request.app.state.repository
    model = repo.get(name)
    have = model.package.version if model.package else "1"
    if version is not None and version != have:
        raise ModelNotFound(f"model {name!r} has no version {version!r}; versions: [{have!r}]", field="version")
    return model


def _metadata(model: LoadedModel) -> dict[str, Any]:
    out: dict[str, Any] = {"name": model.name, "versions": [model.package.version if model.package else "1"],
                           "platform": "onnxruntime_onnx"}
    if model.package is not None:
        out["inputs"] = [s.model_dump() for s in model.package.inputs]
        out["outputs"] = [s.model_dump() for s in model.package.outputs]
    out["state"] = "READY" if model.ready else "UNAVAILABLE"
    if model.error:
        out["error"] = model.error
    return out


def _config(model: LoadedModel, max_batch_size: int) -> dict[str, Any]:
    """Triton model-config JSON: dims exclude the batch axis; per-row scalars use Triton's reshape."""
    if model.package is None:
        raise ModelNotReady(f"model {model.name!r} is not ready: {model.error}", field="model")
    optional = OPTIONAL_INPUTS.get(model.package.task, set())

    def tensor(spec: Any, is_input: bool) -> dict[str, Any]:
        dims = spec.shape[1:]
        entry: dict[str, Any] = {"name": spec.name, "data_type": f"TYPE_{spec.datatype}", "dims": dims or [1]}
        if not dims:
            entry["reshape"] = {"shape": []}
        if is_input:
            entry["optional"] = spec.name in optional
        return entry

    out = {
        "name": model.name, "platform": "onnxruntime_onnx", "backend": "onnxruntime",
        "max_batch_size": max_batch_size,
        "input": [tensor(s, True) for s in model.package.inputs],
        "output": [tensor(s, False) for s in model.package.outputs],
        "version_policy": {"latest": {"num_versions": 1}},
        "instance_group": [{"name": model.name, "kind": "KIND_CPU", "count": 1}],
    }
    if model.runner is not None:
        out.update(runtime_config(model.runner.runtime_info()))
    return out


@router.get("", summary="Server metadata")
async def server_metadata() -> Response:
    return json_response({"name": "rnn-serve", "version": __version__, "extensions": EXTENSIONS})


@router.get("/health/live", summary="200 while the process serves HTTP")
async def live() -> Response:
    return json_response({"live": True})


@router.get("/health/ready", summary="200 only when every model in the repository is ready")
async def ready(request: Request) -> Response:
    repo: ModelRepository = request.app.state.repository
    if not repo.all_ready:
        not_ready = [m.name for m in repo.models.values() if not m.ready]
        raise ModelNotReady(f"models not ready: {not_ready}")
    return json_response({"ready": True})


@router.get("/models/stats", summary="Statistics of every model")
async def all_stats(request: Request) -> Response:
    repo: ModelRepository = request.app.state.repository
    return json_response({"model_stats": [
        m.stats.as_triton(m.name, m.package.version if m.package else "1") for m in repo.models.values()
    ]})


async def model_metadata(name: str, request: Request, version: str | None = None) -> Response:
    return json_response(_metadata(_model(request, name, version)))


async def model_ready(name: str, request: Request, version: str | None = None) -> Response:
    model = _model(request, name, version)
    if not model.ready:
        raise ModelNotReady(f"model {name!r} is not ready: {model.error}", field="model")
    return json_response({"name": name, "ready": True})


async def model_config(name: str, request: Request, version: str | None = None) -> Response:
    model = _model(request, name, version)
    return json_response({**_config(model, request.app.state.settings.max_batch_size),
                          **sequence_batching_config(request, model)})


async def model_stats(name: str, request: Request, version: str | None = None) -> Response:
    model = _model(request, name, version)
    return json_response({"model_stats": [model.stats.as_triton(name, model.package.version if model.package else "1")]})


async def infer(name: str, request: Request, version: str | None = None) -> Response:
    timing = Timing()
    state = request.app.state
    model = _model(request, name, version)
    if not model.ready:
        raise ModelNotReady(f"model {name!r} is not ready: {model.error}", field="model")
    assert model.package is not None and model.pipeline is not None
    body = await read_body(request, state.settings.max_body_bytes)
    try:
        started = now_ns()
        req, tail = split_body(body, request.headers.get("inference-header-content-length"))
        sequence = sequence_parameters(req)
        if sequence is not None:  # Triton's sequence parameters: a stateful session (service/routes_stream.py)
            return await v2_sequence_infer(model, request, req, tail, sequence, timing)
        inputs = decode_inputs(req, tail, model.package.inputs, OPTIONAL_INPUTS.get(model.package.task, set()),
                               state.settings.max_batch_size)
        inputs = model.pipeline.check_tensors(inputs)
        wanted = requested_outputs(req, [o.name for o in model.package.outputs])
        timing.preprocess_ns = now_ns() - started
        outputs = await infer_tensors(model, inputs, timing)
        started = now_ns()
        entries, chunks = encode_outputs(outputs, wanted)
        timing.postprocess_ns = now_ns() - started
    except ServiceError:
        model.stats.record_failure(now_ns() - timing.start_ns)
        raise
    timing.finish()
    record(model, state.metrics, timing, batch=next(iter(inputs.values())).shape[0])
    header: dict[str, Any] = {"model_name": name, "model_version": model.package.version}
    if "id" in req:
        header["id"] = str(req["id"])
    header["parameters"] = timing.as_dict()
    header["outputs"] = entries
    payload, extra = encode_response(header, chunks)
    media = "application/octet-stream" if chunks else "application/json"
    return Response(payload, media_type=media, headers={**extra, "Server-Timing": timing.server_timing()})


#: Each model route exists with and without ``/versions/{version}`` (Triton's two spellings).
_MODEL_ROUTES = (
    ("", "GET", model_metadata, "Model metadata (with the load error when not ready)"),
    ("/ready", "GET", model_ready, "200 when the model is ready, 503 otherwise"),
    ("/config", "GET", model_config, "Triton model configuration (for perf_analyzer)"),
    ("/stats", "GET", model_stats, "Triton statistics extension"),
    ("/infer", "POST", infer, "Inference: JSON tensors or the binary_tensor_data extension"),
)
for _suffix, _method, _endpoint, _summary in _MODEL_ROUTES:
    for _prefix in ("/models/{name}", "/models/{name}/versions/{version}"):
        router.add_api_route(_prefix + _suffix, _endpoint, methods=[_method], summary=_summary,
                             route_class_override=DirectRoute if _endpoint is infer else None)
