"""Typed errors with their HTTP status, and the ONE place that turns any error into a response.

Everything a client can get wrong ends as ``{"error": "...", "field": "...", "rule": "..."}``
with a 4xx status (Triton's mapping: bad input 400, unknown model 404, not ready 503); the
handlers below also reshape FastAPI's default 422 body and Starlette's 404/405 into that form,
so a client parses one error shape whatever failed.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.preprocess.errors import PreprocessError

log = logging.getLogger("rnn_serve.errors")


class ServiceError(Exception):
    """Base of every error the service raises on purpose; ``status`` is the HTTP status."""

    status = 400

    def __init__(
        self, message: str, *, field: str | None = None, rule: str | None = None,
        status: int | None = None, details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.rule = rule
        self.details = details
        if status is not None:
            self.status = status

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.message}
        if self.field is not None:
            out["field"] = self.field
        if self.rule is not None:
            out["rule"] = self.rule
        if self.details and len(self.details) > 1:
            out["details"] = self.details
        return out


class BadRequest(ServiceError):
    """Malformed request (bad JSON, bad V2 tensor): Triton answers INVALID_ARG with 400."""

    status = 400


class InvalidInput(ServiceError):
    """Well-formed request whose content breaks a task rule (text too long, bad history): 422."""

    status = 422


class ModelNotFound(ServiceError):
    status = 404


class ModelNotReady(ServiceError):
    status = 503


class PayloadTooLarge(ServiceError):
    status = 413


class UnsupportedMediaType(ServiceError):
    status = 415


def bad_field(exc_type: type[ServiceError], field: str, rule: str) -> ServiceError:
    """An error whose message is ``field: rule``, the form every 4xx uses."""
    return exc_type(f"{field}: {rule}", field=field, rule=rule)


def from_validation_error(exc: ValidationError | RequestValidationError, prefix: str = "") -> InvalidInput:
    """Pydantic's error list → one :class:`InvalidInput` naming the first bad field and its rule."""
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    loc = [str(part) for part in first.get("loc", ()) if part not in ("body",)]
    field = ".".join([p for p in [prefix, *loc] if p]) or "body"
    rule = str(first.get("msg", "invalid value"))
    details = [{"field": ".".join(str(p) for p in e.get("loc", ())), "rule": e.get("msg")} for e in errors]
    return InvalidInput(f"{field}: {rule}", field=field, rule=rule, details=details)


def error_response(err: ServiceError) -> Response:
    """JSON error body; an error may carry headers (e.g. ``Retry-After`` on a full queue)."""
    return Response(orjson.dumps(err.body()), status_code=err.status, media_type="application/json",
                    headers=getattr(err, "headers", None))


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers: the only code that maps exceptions to HTTP."""

    @app.exception_handler(ServiceError)
    async def _service(_: Request, exc: ServiceError) -> Response:
        return error_response(exc)

    @app.exception_handler(PreprocessError)
    async def _preprocess(_: Request, exc: PreprocessError) -> Response:
        return error_response(bad_field(InvalidInput, exc.field, exc.rule))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        return error_response(from_validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return error_response(
            ServiceError(f"{exc.detail}: {request.method} {request.url.path}", status=exc.status_code)
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(ServiceError(f"internal error: {type(exc).__name__}", status=500))
