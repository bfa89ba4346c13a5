"""The ONE place that turns an exception into an HTTP response.

Everything a client can get wrong ends as ``{"error": "...", "field": "...", "rule": "..."}``
with a 4xx status and the error's own headers (``Retry-After``, ``Allow``, ``Connection:
close``). FastAPI's validation errors and Starlette's 404/405 are reshaped into the same form, so
a client parses one error shape whatever failed. A fault of ours is a 500 with a stable message;
its traceback goes to the log once, never to the client.
"""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.errors import ClientGone, InternalError, ServiceError
from service.tasks.base import from_validation_error

log = logging.getLogger("rnn_serve.http")


def error_response(err: ServiceError) -> Response:
    return Response(
        orjson.dumps(err.body()), status_code=err.status, media_type="application/json", headers=err.headers or None
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service(request: Request, exc: ServiceError) -> Response:
        if isinstance(exc, ClientGone):  # nobody reads this answer: one line, not a traceback
            log.info("%s %s: %s", request.method, request.url.path, exc.message)
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        return error_response(from_validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        err = ServiceError(f"{exc.detail}: {request.method} {request.url.path}", status=exc.status_code)
        err.headers = dict(exc.headers or {})
        return error_response(err)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(InternalError(f"internal error: {type(exc).__name__}"))
