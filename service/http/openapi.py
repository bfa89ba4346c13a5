"""What the OpenAPI document says about bodies and errors, kept next to what the server enforces.

The hot routes read their bodies themselves (one route serves three request shapes, a WAV body
and the V2 binary extension), so FastAPI cannot infer their schemas: they are declared here,
from the tasks' own request models, and every operation lists every error status it can
answer, with the one error shape.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from service.tasks import TASKS
from service.v2.types import WIRE_DTYPES


class TimingOut(BaseModel):
    queue_ms: float
    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float
    total_ms: float


class PredictResponse(BaseModel):
    model: str
    predictions: list[dict[str, Any]]
    timing: TimingOut


class CompareResponse(BaseModel):
    task: str
    results: dict[str, PredictResponse]


class ModelsResponse(BaseModel):
    models: list[dict[str, Any]]


class ErrorResponse(BaseModel):
    error: str
    field: str | None = None
    rule: str | None = None


#: statuses any operation that reads a body can answer
BODY_ERRORS = (400, 404, 408, 413, 415, 422, 499, 503)
#: statuses any operation can answer (unknown model, model not ready)
ERRORS = (400, 404, 422, 503)


def error_responses(codes: tuple[int, ...]) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorResponse} for code in codes}


def task_body(chunk: bool = False) -> dict[str, Any]:
    """``openapi_extra`` for a task API body (``chunk``: one streaming chunk instead)."""
    examples: dict[str, Any] = {}
    schemas = []
    for task in TASKS.values():
        examples.update(task.chunk_examples if chunk else task.examples)
        schemas.append(task.chunk_schema() if chunk else task.body_schema())
    content: dict[str, Any] = {
        "application/json": {"schema": {"anyOf": schemas}, "examples": {k: {"value": v} for k, v in examples.items()}}
    }
    for task in TASKS.values():
        for media in task.binary_media_types[:1]:
            content[media] = {"schema": {"type": "string", "format": "binary"}}
    return {"requestBody": {"required": True, "content": content}}


def _v2_tensor(extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "minLength": 1},
            # null is read as absent, as for every optional V2 field
            "parameters": {
                "type": ["object", "null"],
                "additionalProperties": {"type": ["string", "number", "boolean"]},
            },
            **extra,
        },
    }


V2_INFER_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["inputs"],
                    "properties": {
                        "id": {"type": ["string", "number", "null"]},
                        "parameters": {
                            "type": ["object", "null"],
                            "additionalProperties": {"type": ["string", "number", "boolean"]},
                        },
                        "inputs": {
                            "type": "array",
                            "minItems": 1,
                            "items": _v2_tensor(
                                {
                                    "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                                    "datatype": {"type": "string", "enum": sorted(WIRE_DTYPES)},
                                    "data": {"type": "array"},
                                }
                            ),
                        },
                        "outputs": {"type": ["array", "null"], "items": _v2_tensor({})},
                    },
                },
                "example": {
                    "inputs": [{"name": "history", "shape": [1, 96, 7], "datatype": "FP32", "data": [0.0] * (96 * 7)}]
                },
            },
            "application/octet-stream": {
                "schema": {"type": "string", "format": "binary"},
                "description": "binary_tensor_data extension: JSON header + raw tensors, "
                "header size in Inference-Header-Content-Length",
            },
        },
    }
}
