"""Reading request bodies within the size limit, and writing orjson responses with timing headers."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from service.errors import PayloadTooLarge, bad_field
from service.timing import Timing


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing (413) as soon as it is known to exceed ``limit`` bytes.

    Checks ``Content-Length`` first, then counts streamed chunks, so a chunked upload without a
    length cannot make the server buffer more than the limit either.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise bad_field(PayloadTooLarge, "body", f"request body is {declared} bytes; at most {limit} allowed")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise bad_field(PayloadTooLarge, "body", f"request body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def json_response(body: Any, timing: Timing | None = None, status_code: int = 200) -> Response:
    headers = {"Server-Timing": timing.server_timing()} if timing is not None else None
    return Response(
        orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status_code, media_type="application/json", headers=headers,
    )
