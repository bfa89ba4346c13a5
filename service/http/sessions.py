"""Streaming sessions over HTTP, the native endpoints (V2 sequences go through ``/v2/.../infer``)::

    POST   /v1/models/{name}/sessions                 → 201 {"session_id", ...}
    POST   /v1/models/{name}/sessions/{id}/chunks     → the answer after this chunk (?end=true ends it)
    GET    /v1/models/{name}/sessions/{id}            → its counters and state bytes
    DELETE /v1/models/{name}/sessions/{id}            → ends it, frees its state
    GET    /v1/sessions                               → limits, counts, state bytes per model

Unknown, ended or expired sessions answer 404 (V2 sequences: 400, as Triton does); a full store
answers 503 with ``Retry-After``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.http.body import json_response, plane, reader
from service.http.openapi import BODY_ERRORS, ERRORS, error_responses, task_body

router = APIRouter(tags=["streaming sessions"])


@router.get("/v1/sessions", summary="Streaming sessions: limits, counts, state bytes per model")
async def sessions_overview(request: Request) -> Response:
    return json_response(plane(request).streaming.overview())


@router.post(
    "/v1/models/{name}/sessions",
    status_code=201,
    summary="Open a streaming session on a model",
    responses=error_responses(ERRORS),
)
async def open_session(name: str, request: Request) -> Response:
    return json_response(plane(request).open_session(name), status_code=201)


@router.get(
    "/v1/models/{name}/sessions/{session_id}",
    summary="One session's counters and state bytes",
    responses=error_responses(ERRORS),
)
async def session_info(name: str, session_id: str, request: Request) -> Response:
    return json_response(plane(request).session_info(name, session_id))


@router.delete(
    "/v1/models/{name}/sessions/{session_id}",
    summary="End a session and free its state",
    responses=error_responses(ERRORS),
)
async def end_session(name: str, session_id: str, request: Request) -> Response:
    return json_response(plane(request).session_info(name, session_id, end=True))


@router.post(
    "/v1/models/{name}/sessions/{session_id}/chunks",
    openapi_extra=task_body(chunk=True),
    responses=error_responses(BODY_ERRORS),
    summary="Send the next chunk (text / audio / hourly rows); answer from the carried state",
)
async def send_chunk(name: str, session_id: str, request: Request, end: bool = False) -> Response:
    result = await plane(request).chunk(
        name, session_id, reader(request), request.headers.get("content-type"), end, request.is_disconnected
    )
    return json_response(result.body, result.timing)
