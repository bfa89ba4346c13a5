"""What every task implements, and the helpers the tasks share.

A :class:`Task` holds everything that differs between sentiment, keywords and forecast, for one
model package: how a raw request body becomes the model's tensors (``parse`` → ``preprocess``)
and the outputs become answers (``postprocess``), which V2 inputs a client may leave out and how
they are derived (``check_tensors``), whether rows of different lengths may share a batch
(``pads``), what one streaming chunk is (``chunk_inputs``), the longest sequence any entry point
accepts (``max_sequence_length``), a warm-up input, and how preprocessed examples become ONNX
feeds (``feeds``, also used by the exporter, the evaluator and the load tester). Nothing outside
``service/tasks/`` knows a task by name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np
import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from service.errors import BadRequest, InvalidInput, UnsupportedMediaType
from service.package import ModelPackage

Tensors = dict[str, np.ndarray]
M = TypeVar("M", bound="RequestModel")


class RequestModel(BaseModel):
    """Base of the task API's request bodies: unknown fields are an error, not ignored."""

    model_config = ConfigDict(extra="forbid")


def media_type(content_type: str | None) -> str:
    """``"Application/JSON; charset=utf-8"`` → ``"application/json"`` ('' when absent)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json(content_type: str | None) -> bool:
    """JSON is the default: no Content-Type, ``application/json`` or any ``+json`` type."""
    kind = media_type(content_type)
    return kind in ("", "application/json") or kind.endswith("+json")


def require_json(content_type: str | None, accepted: str = "application/json") -> None:
    if not is_json(content_type):
        raise UnsupportedMediaType(
            f"Content-Type: {media_type(content_type)!r} is not supported; send {accepted}",
            field="Content-Type",
            rule=accepted,
        )


def parse_json(body: bytes, field: str = "body") -> Any:
    """orjson parse; malformed JSON (incl. NaN/Infinity literals) → 400 naming the rule.

    orjson rather than FastAPI's body injection: one route serves three request shapes and a WAV
    body, and orjson parses several times faster than the standard library.
    """
    if not body:
        raise BadRequest(f"{field}: request body is empty; JSON expected", field=field, rule="non-empty JSON")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"{field}: malformed JSON ({exc})", field=field, rule="valid JSON (RFC 8259)") from None


class HasErrors(Protocol):
    """Pydantic's ``ValidationError`` or FastAPI's ``RequestValidationError``."""

    def errors(self) -> Sequence[Any]: ...


def from_validation_error(exc: HasErrors, prefix: str = "") -> InvalidInput:
    """Pydantic's error list → one :class:`InvalidInput` naming the first bad field and its rule."""
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    loc = [str(part) for part in first.get("loc", ()) if part not in ("body",)]
    field = ".".join([p for p in [prefix, *loc] if p]) or "body"
    rule = str(first.get("msg", "invalid value"))
    details = [{"field": ".".join(str(p) for p in e.get("loc", ())), "rule": e.get("msg")} for e in errors]
    return InvalidInput(f"{field}: {rule}", field=field, rule=rule, details=details)


def validate(model: type[M], data: Any) -> M:
    """``model.model_validate`` with pydantic's error reshaped into the project's error form."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise from_validation_error(exc) from None


def softmax(row: list[float]) -> list[float]:
    """Probabilities of one row of logits (max-shifted, in float64).

    Plain Python on purpose: a row has 2 or 10 classes, where each numpy call costs more than the
    arithmetic (this was several percent of the event loop's time per request).
    """
    top = max(row)
    exps = [math.exp(v - top) for v in row]
    total = sum(exps)
    return [e / total for e in exps]


def classify(logits: np.ndarray, labels: list[str]) -> list[dict[str, Any]]:
    """Logits ``[B, C]`` → one ``{"label", "index", "probability", "probabilities"}`` per row."""
    out = []
    for row in logits.tolist():
        probs = softmax(row)
        best = max(range(len(probs)), key=probs.__getitem__)
        out.append(
            {
                "label": labels[best],
                "index": best,
                "probability": probs[best],
                "probabilities": dict(zip(labels, probs, strict=True)),
            }
        )
    return out


class Task:
    """One task's request handling for one package (see the module docstring)."""

    name: ClassVar[str]
    #: the task API's JSON body, as the OpenAPI page documents it
    request_model: ClassVar[type[RequestModel]]
    #: OpenAPI examples of the task API body and of one streaming chunk
    examples: ClassVar[dict[str, Any]]
    chunk_examples: ClassVar[dict[str, Any]]
    #: media types the task API accepts besides JSON (a WAV body for keywords)
    binary_media_types: ClassVar[tuple[str, ...]] = ()
    #: model inputs the service derives when a V2 client leaves them out (``check_tensors``); they
    #: are not listed in V2 metadata or config, because generic tools (perf_analyzer) fill every
    #: listed input with random data, and a random sentence length is not a sentence length
    implicit_inputs: ClassVar[frozenset[str]] = frozenset()
    #: rows of different lengths share a batch by right-padding (answers unchanged)
    pads: ClassVar[bool] = False

    def __init__(self, package: ModelPackage, folder: Path, max_request_rows: int) -> None:
        self.package = package
        self.folder = folder
        self.max_request_rows = max_request_rows

    @property
    def max_sequence_length(self) -> int:
        """The most time steps any entry point (task API, V2, streaming chunks) may feed at once."""
        raise NotImplementedError

    # ---- the task API: raw input → tensors → answers
    def parse(self, body: bytes, content_type: str | None) -> Any:
        raise NotImplementedError

    def preprocess(self, request: Any) -> Tensors:
        raise NotImplementedError

    def postprocess(self, outputs: Tensors) -> list[dict[str, Any]]:
        raise NotImplementedError

    # ---- V2: task rules the generic tensor check cannot know
    def check_tensors(self, inputs: Tensors) -> Tensors:
        return inputs

    # ---- streaming: one chunk of raw input → step-model inputs (None: no new time step yet)
    def chunk_inputs(self, body: bytes, content_type: str | None, carry: dict[str, Any]) -> Tensors | None:
        """``carry`` is this session's scratch space between chunks (keywords: pending samples)."""
        raise NotImplementedError

    def check_chunk_tensors(self, inputs: Tensors) -> Tensors:
        """A V2 sequence chunk (batch 1, any number of time steps), checked like ``check_tensors``."""
        return inputs

    def chunk_info(self, carry: dict[str, Any]) -> dict[str, Any]:
        """Extra fields of a native chunk's answer (keywords: samples waiting for the next frame)."""
        return {}

    # ---- warm-up and the batcher's cost probes
    def example_inputs(self) -> Tensors:
        """A realistic one-row input for warm-up (exercises the real preprocessing)."""
        raise NotImplementedError

    def probe_inputs(self, rows: int, steps: int) -> Tensors:
        """A valid input of ``rows`` rows of ``steps`` time steps (the padded-run cost model)."""
        raise NotImplementedError

    # ---- the OpenAPI document: the JSON bodies exactly as the server enforces them
    @classmethod
    def body_schema(cls) -> dict[str, Any]:
        """JSON schema of a task API body."""
        return cls.request_model.model_json_schema()

    @classmethod
    def chunk_schema(cls) -> dict[str, Any]:
        """JSON schema of one native streaming chunk's JSON body."""
        return cls.body_schema()

    # ---- shared with the exporter, the evaluator and the load tester
    @classmethod
    def feeds(cls, examples: Sequence[np.ndarray] | np.ndarray) -> Tensors:
        """Preprocessed examples (one per row) → the model's ONNX feeds for one batch."""
        raise NotImplementedError
