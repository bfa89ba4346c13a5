"""Reading request bodies within the size and time limits, and writing orjson responses.

A body that is too large (413), too slow (408) or abandoned by its client (499) ends here as a
typed error; the connection is closed after a 408 or 413, because the rest of that body may
still be on its way and would otherwise be read as the next request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response
from starlette.requests import ClientDisconnect
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from service.dataplane import DataPlane
from service.errors import ClientGone, PayloadTooLarge, RequestTimeout
from service.settings import Settings
from service.timing import Timing


def _too_large(rule: str) -> PayloadTooLarge:
    err = PayloadTooLarge(f"body: {rule}", field="body", rule=rule)
    err.headers["Connection"] = "close"
    return err


def _declared_too_large(declared: str | None, limit: int) -> None:
    """Refuse at once a body whose ``Content-Length`` already says it is over the limit."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(f"request body is {declared} bytes; at most {limit} allowed")


def _too_slow(settings: Settings, size: int) -> RequestTimeout:
    err = RequestTimeout(
        f"body: not received within {settings.body_timeout_s:g} s ({size} bytes arrived)",
        field="body",
        rule=f"the whole body within body_timeout_s ({settings.body_timeout_s:g} s)",
    )
    err.headers["Connection"] = "close"
    return err


def _gone() -> ClientGone:
    return ClientGone("the client disconnected while sending the body", field="body")


async def read_body(request: Request, settings: Settings) -> bytes:
    """The whole body, refusing (413) as soon as it is known to exceed ``max_body_bytes``, and
    (408) when it has not all arrived within ``body_timeout_s``.

    Checks ``Content-Length`` first, then counts streamed chunks, so a chunked upload without a
    length cannot make the server buffer more than the limit either.
    """
    limit = settings.max_body_bytes
    _declared_too_large(request.headers.get("content-length"), limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(settings.body_timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _too_large(f"request body exceeds {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise _too_slow(settings, size) from None
    except ClientDisconnect:
        raise _gone() from None
    return b"".join(chunks)


async def read_cycle_body(cycle: RequestResponseCycle, declared: str | None, settings: Settings) -> bytes:
    """The fast path's :func:`read_body`, with the same limits and errors, read from uvicorn's
    request cycle (where the protocol's parser puts the body) instead of ASGI messages.

    Usually the whole body arrived with the headers, and this returns it without arming a timer.
    Otherwise it waits for more as uvicorn's ``receive`` does, resuming reading only while the
    body is within the limit (the protocol pauses reading above 64 KiB), so at most one read past
    the limit is ever buffered.
    """
    limit = settings.max_body_bytes
    _declared_too_large(declared, limit)
    if cycle.more_body and not cycle.disconnected:
        try:
            async with asyncio.timeout(settings.body_timeout_s):
                while cycle.more_body and not cycle.disconnected:
                    if len(cycle.body) > limit:
                        raise _too_large(f"request body exceeds {limit} bytes")
                    cycle.flow.resume_reading()
                    await cycle.message_event.wait()
                    cycle.message_event.clear()
        except TimeoutError:
            raise _too_slow(settings, len(cycle.body)) from None
    if cycle.disconnected:
        raise _gone()
    if len(cycle.body) > limit:
        raise _too_large(f"request body exceeds {limit} bytes")
    body = bytes(cycle.body)
    cycle.body = bytearray()
    return body


def plane(request: Request) -> DataPlane:
    """The app's data plane (made in its lifespan)."""
    return request.app.state.plane  # type: ignore[no-any-return]


def reader(request: Request) -> Callable[[], Awaitable[bytes]]:
    """The body reader the data plane calls (inside the request's timing)."""
    return lambda: read_body(request, request.app.state.settings)


def json_response(body: Any, timing: Timing | None = None, status_code: int = 200) -> Response:
    headers = {"Server-Timing": timing.server_timing()} if timing is not None else None
    return Response(
        orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )
