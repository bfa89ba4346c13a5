"""The task-level API: list models, predict from raw task inputs, compare LSTM and GRU."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.direct_route import DirectRoute
from service.errors import ModelNotFound
from service.http_io import json_response, read_body
from service.pipeline import predict
from service.schemas import (
    CompareResponse,
    ErrorResponse,
    ForecastRequest,
    KeywordsRequest,
    ModelsResponse,
    PredictResponse,
    SentimentRequest,
)
from service.tasks import PIPELINES
from service.timing import Timing

router = APIRouter(prefix="/v1", tags=["task API (v1)"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 404, 413, 415, 422, 503)
}
_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"anyOf": [m.model_json_schema() for m in (SentimentRequest, KeywordsRequest, ForecastRequest)]},
                "examples": {
                    "sentiment": {"value": {"text": "a wonderful , moving film ."}},
                    "sentiment batch": {"value": {"texts": ["great acting", "dull plot"]}},
                    "keywords samples": {"value": {"samples": [0.0, 0.1, -0.1], "sample_rate": 8000}},
                },
            },
            "audio/wav": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


async def predict_route(name: str, request: Request) -> Response:
    timing = Timing()
    state = request.app.state
    model = state.repository.get_ready(name)
    body = await read_body(request, state.settings.max_body_bytes)
    result = await predict(model, body, request.headers.get("content-type"), state.metrics, timing)
    return json_response(result, timing)


async def compare_route(task: str, request: Request) -> Response:
    timing = Timing()
    state = request.app.state
    if task not in PIPELINES:
        raise ModelNotFound(f"unknown task {task!r}; tasks: {', '.join(PIPELINES)}", field="task")
    models = state.repository.for_task(task)
    if not models:
        raise ModelNotFound(f"no models for task {task!r} in the repository", field="task")
    ready = [state.repository.get_ready(m.name) for m in models]
    body = await read_body(request, state.settings.max_body_bytes)
    results = {}
    for model in ready:
        one = Timing()
        results[model.name] = await predict(model, body, request.headers.get("content-type"), state.metrics, one)
        timing.add(one)
    timing.finish()
    return json_response({"task": task, "results": results, "timing": timing.as_dict()}, timing)


# The two hot routes are DirectRoutes (no per-request dependency solving; same OpenAPI entry).
router.add_api_route(
    "/models/{name}/predict", predict_route, methods=["POST"], route_class_override=DirectRoute,
    response_model=PredictResponse, responses=_ERRORS, openapi_extra=_BODY,
    summary="Predict from raw task input (text, audio, history); preprocessing runs in the service",
)
router.add_api_route(
    "/compare/{task}", compare_route, methods=["POST"], route_class_override=DirectRoute,
    response_model=CompareResponse, responses=_ERRORS, openapi_extra=_BODY,
    summary="One input through the task's LSTM and GRU: both answers, both latencies",
)


@router.get("/models", response_model=ModelsResponse, summary="Every model with its metadata")
async def list_models(request: Request) -> Response:
    repo = request.app.state.repository
    return json_response({"models": [m.metadata() for m in repo.models.values()]})


@router.get("/models/{name}", summary="One model's metadata", responses=_ERRORS)
async def model_metadata(name: str, request: Request) -> Response:
    return json_response(request.app.state.repository.get(name).metadata())
