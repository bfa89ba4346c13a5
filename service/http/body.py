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

from service.dataplane import DataPlane
from service.errors import ClientGone, PayloadTooLarge, RequestTimeout
from service.settings import Settings
from service.timing import Timing


def _too_large(rule: str) -> PayloadTooLarge:
    err = PayloadTooLarge(f"body: {rule}", field="body", rule=rule)
    err.headers["Connection"] = "close"
    return err


async def read_body(request: Request, settings: Settings) -> bytes:
    """The whole body, refusing (413) as soon as it is known to exceed ``max_body_bytes``, and
    (408) when it has not all arrived within ``body_timeout_s``.

    Checks ``Content-Length`` first, then counts streamed chunks, so a chunked upload without a
    length cannot make the server buffer more than the limit either.
    """
    limit = settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(f"request body is {declared} bytes; at most {limit} allowed")
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
        err = RequestTimeout(
            f"body: not received within {settings.body_timeout_s:g} s ({size} bytes arrived)",
            field="body",
            rule=f"the whole body within body_timeout_s ({settings.body_timeout_s:g} s)",
        )
        err.headers["Connection"] = "close"
        raise err from None
    except ClientDisconnect:
        raise ClientGone("the client disconnected while sending the body", field="body") from None
    return b"".join(chunks)


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
