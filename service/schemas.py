"""Pydantic wire types of the task-level API (``/v1``): what the OpenAPI page documents.

Request bodies are parsed with orjson and validated with these models by the task pipelines
(``service/tasks``) rather than by FastAPI's body injection, because one route serves three
request shapes and a WAV body, and orjson parsing is several times cheaper (feasibility.md §3).
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from service.errors import BadRequest, from_validation_error


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SentimentRequest(_Request):
    """One text (``text``) or a batch (``texts``), raw English; tokenised by the service."""

    text: str | None = Field(None, examples=["A wonderful, moving film."])
    texts: list[str] | None = Field(None, min_length=1, examples=[["great acting", "dull plot"]])

    @model_validator(mode="after")
    def _exactly_one(self) -> SentimentRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of 'text' or 'texts'")
        return self


class KeywordsRequest(_Request):
    """A spoken digit: base64 of a 16-bit mono PCM WAV, or raw samples in [-1, 1] at 8 kHz.

    A WAV file can also be sent as the request body with ``Content-Type: audio/wav``.
    """

    audio_base64: str | None = None
    samples: list[float] | None = None
    sample_rate: int | None = Field(None, description="required with samples; must be the model's rate")

    @model_validator(mode="after")
    def _exactly_one(self) -> KeywordsRequest:
        if (self.audio_base64 is None) == (self.samples is None):
            raise ValueError("give exactly one of 'audio_base64' or 'samples'")
        if self.samples is not None and self.sample_rate is None:
            raise ValueError("'sample_rate' is required with 'samples'")
        return self


class ForecastRequest(_Request):
    """The look-back window: rows of raw variable values (HUFL, HULL, MUFL, MULL, LUFL, LULL, OT)."""

    history: list[list[float]] | list[float] = Field(
        description="lookback rows (96) of 7 values each, oldest first; a flat list only for a univariate model"
    )


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


def parse_json(body: bytes, field: str = "body") -> Any:
    """orjson parse; malformed JSON (incl. NaN/Infinity literals) → 400 naming the rule."""
    if not body:
        raise BadRequest(f"{field}: request body is empty; JSON expected", field=field, rule="non-empty JSON")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"{field}: malformed JSON ({exc})", field=field, rule="valid JSON (RFC 8259)") from None


def validate(model: type[_Request], data: Any) -> Any:
    """``model.model_validate`` with pydantic's error reshaped into the project's error form."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise from_validation_error(exc) from None
