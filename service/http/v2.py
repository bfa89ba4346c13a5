"""KServe V2 / Open Inference Protocol REST, as Triton spells it (so tritonclient and
perf_analyzer work): health, server/model metadata, model config, statistics, infer.

Infer feeds the model's ONNX tensors directly; preprocessing is the client's job here. Each model
route exists with and without ``/versions/{version}`` (Triton's two spellings).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.errors import ModelNotReady
from service.http.body import json_response, plane
from service.http.hot import Answer, HotRequest, asgi_route
from service.http.openapi import BODY_ERRORS, V2_INFER_BODY, error_responses
from service.v2 import config as v2_config
from service.v2.codec import decode_request, encode_response

router = APIRouter(prefix="/v2", tags=["KServe V2 (Triton-compatible)"])


@router.get("", summary="Server metadata")
async def server_metadata() -> Response:
    return json_response(v2_config.server_metadata())


@router.get("/health/live", summary="200 while the process serves HTTP")
async def live() -> Response:
    return json_response({"live": True})


@router.get(
    "/health/ready", summary="200 only when every model in the repository is ready", responses=error_responses((503,))
)
async def ready(request: Request) -> Response:
    repo = plane(request).repository
    if not repo.all_ready:
        not_ready = [m.name for m in repo.models.values() if not m.ready]
        raise ModelNotReady(f"models not ready: {not_ready}")
    return json_response({"ready": True})


@router.get("/models/stats", summary="Statistics of every model")
async def all_stats(request: Request) -> Response:
    return json_response(plane(request).model_stats())


async def _metadata(request: Request, name: str, version: str | None) -> Response:
    return json_response(plane(request).metadata(name, version))


async def _ready(request: Request, name: str, version: str | None) -> Response:
    plane(request).ready(name, version)
    return json_response({"name": name, "ready": True})


async def _config(request: Request, name: str, version: str | None) -> Response:
    return json_response(plane(request).model_config(name, version))


async def _stats(request: Request, name: str, version: str | None) -> Response:
    return json_response(plane(request).model_stats(name, version))


async def _infer(req: HotRequest) -> Answer:
    header_length = req.header("inference-header-content-length")
    request, response, timing = await req.plane.infer(
        req.params["name"],
        req.params.get("version"),
        req.read,
        lambda body: decode_request(body, header_length),
        req.gone,
    )
    payload, headers, media = encode_response(response, request)
    return Answer(payload, media, {**headers, "Server-Timing": timing.server_timing()})


Handler = Callable[[Request, str, str | None], Awaitable[Response]]


def _add(
    suffix: str,
    method: str,
    handler: Handler,
    summary: str,
    errors: tuple[int, ...],
    extra: dict[str, Any] | None = None,
) -> None:
    """Both spellings of one model route; neither takes a ``version`` query parameter."""

    async def unversioned(name: str, request: Request) -> Response:
        return await handler(request, name, None)

    async def versioned(name: str, version: str, request: Request) -> Response:
        return await handler(request, name, version)

    for path, endpoint in (("/models/{name}", unversioned), ("/models/{name}/versions/{version}", versioned)):
        router.add_api_route(
            path + suffix,
            endpoint,
            methods=[method],
            summary=summary,
            responses=error_responses(errors),
            openapi_extra=extra,
            name=f"{handler.__name__}{path}",
        )


_add("", "GET", _metadata, "Model metadata (with the load error's reason when not ready)", (404,))
_add("/ready", "GET", _ready, "200 when the model is ready, 503 otherwise", (404, 503))
_add("/config", "GET", _config, "Triton model configuration (for perf_analyzer)", (404, 503))
_add("/stats", "GET", _stats, "Triton statistics extension", (404,))


async def infer(name: str, request: Request) -> Response:
    return await asgi_route(_infer, request, name=name)


async def infer_versioned(name: str, version: str, request: Request) -> Response:
    return await asgi_route(_infer, request, name=name, version=version)


# Hot routes: the fast path (service.http.cycle) calls the endpoint directly; the FastAPI routes
# below serve the OpenAPI document and the requests the fast path leaves to ASGI.
HOT = (("/v2/models/{name}/infer", _infer), ("/v2/models/{name}/versions/{version}/infer", _infer))
ROUTES = (("/v2/models/{name}/infer", infer), ("/v2/models/{name}/versions/{version}/infer", infer_versioned))
for _path, _endpoint in ROUTES:
    router.add_api_route(
        _path.removeprefix("/v2"),
        _endpoint,
        methods=["POST"],
        summary="Inference: JSON tensors or the binary_tensor_data extension",
        responses=error_responses(BODY_ERRORS),
        openapi_extra=V2_INFER_BODY,
    )
