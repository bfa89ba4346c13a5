"""The task-level API: list models, predict from raw task inputs, compare LSTM and GRU."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.http.body import json_response, plane
from service.http.hot import Answer, HotRequest, asgi_route, json_answer
from service.http.openapi import (
    BODY_ERRORS,
    ERRORS,
    CompareResponse,
    ModelsResponse,
    PredictResponse,
    error_responses,
    task_body,
)

router = APIRouter(prefix="/v1", tags=["task API (v1)"])


async def predict(req: HotRequest) -> Answer:
    result = await req.plane.predict(req.params["name"], req.read, req.header("content-type"), req.gone)
    return json_answer(result.body, result.timing)


async def compare(req: HotRequest) -> Answer:
    result = await req.plane.compare(req.params["task"], req.read, req.header("content-type"), req.gone)
    return json_answer(result.body, result.timing)


async def predict_route(name: str, request: Request) -> Response:
    return await asgi_route(predict, request, name=name)


async def compare_route(task: str, request: Request) -> Response:
    return await asgi_route(compare, request, task=task)


# Hot routes: the fast path (service.http.cycle) calls the endpoints directly; the FastAPI routes
# below serve the OpenAPI document and the requests the fast path leaves to ASGI.
HOT = (("/v1/models/{name}/predict", predict), ("/v1/compare/{task}", compare))
router.add_api_route(
    "/models/{name}/predict",
    predict_route,
    methods=["POST"],
    response_model=PredictResponse,
    responses=error_responses(BODY_ERRORS),
    openapi_extra=task_body(),
    summary="Predict from raw task input (text, audio, history); preprocessing runs in the service",
)
router.add_api_route(
    "/compare/{task}",
    compare_route,
    methods=["POST"],
    response_model=CompareResponse,
    responses=error_responses(BODY_ERRORS),
    openapi_extra=task_body(),
    summary="One input through the task's LSTM and GRU: both answers, both latencies",
)


@router.get("/models", response_model=ModelsResponse, summary="Every model with its metadata")
async def list_models(request: Request) -> Response:
    return json_response({"models": [m.metadata() for m in plane(request).repository.models.values()]})


@router.get("/models/{name}", summary="One model's metadata", responses=error_responses(ERRORS))
async def model_metadata(name: str, request: Request) -> Response:
    return json_response(plane(request).repository.get(name).metadata())
