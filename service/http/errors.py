"""The ONE place that turns an exception into an HTTP response.

Everything a client can get wrong ends as ``{"error": "...", "field": "...", "rule": "..."}``
with a 4xx status and the error's own headers (``Retry-After``, ``Allow``, ``Connection:
close``). FastAPI's validation errors and Starlette's 404/405 are reshaped into the same form, so
a client parses one error shape whatever failed. A fault of ours is a 500 with a stable message;
its traceback goes to the log once, never to the client. :func:`to_service_error` serves both the
Starlette exception handlers and the fast path (:mod:`service.http.cycle`).
"""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from service.errors import ClientGone, InternalError, ServiceError
from service.tasks.base import from_validation_error

log = logging.getLogger("rnn_serve.http")

_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def error_response(err: ServiceError) -> Response:
    return Response(
        orjson.dumps(err.body()), status_code=err.status, media_type="application/json", headers=err.headers or None
    )


def allowed_methods(request: Request) -> str:
    """Every method some route serves at this path (Starlette names only its first route's)."""
    routes = request.app.router.routes
    allowed = [m for m in _METHODS if any(r.matches({**request.scope, "method": m})[0] == Match.FULL for r in routes)]
    return ", ".join(allowed)


def to_service_error(exc: Exception, method: str, path: str) -> ServiceError:
    """The typed error for any exception raised while serving ``method path`` (the fast path
    answers with it directly; :func:`to_response` wraps it for Starlette)."""
    if isinstance(exc, ServiceError):
        if isinstance(exc, ClientGone):  # nobody reads this answer: one line, not a traceback
            log.info("%s %s: %s", method, path, exc.message)
        return exc
    if isinstance(exc, RequestValidationError):
        return from_validation_error(exc)
    if isinstance(exc, StarletteHTTPException):
        err = ServiceError(f"{exc.detail}: {method} {path}", status=exc.status_code)
        err.headers = dict(exc.headers or {})
        return err
    log.error("unexpected error on %s %s", method, path, exc_info=exc)
    return InternalError(f"internal error: {type(exc).__name__}")


def to_response(request: Request, exc: Exception) -> Response:
    """The response for any exception raised while serving ``request``."""
    err = to_service_error(exc, request.method, request.url.path)
    if isinstance(exc, StarletteHTTPException) and exc.status_code == 405:
        err.headers["Allow"] = allowed_methods(request)
    return error_response(err)


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception Starlette catches through :func:`to_response`."""

    async def handler(request: Request, exc: Exception) -> Response:
        return to_response(request, exc)

    for kind in (ServiceError, RequestValidationError, StarletteHTTPException, Exception):
        app.add_exception_handler(kind, handler)
