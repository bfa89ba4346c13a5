"""The hot routes (the prediction POSTs) in a form both HTTP front ends can call.

A hot endpoint takes a :class:`HotRequest` (the data plane, the path parameters, a header
look-up, the body reader, the client-gone check) and returns an :class:`Answer` (status, media
type, headers, body bytes). Two front ends call the same endpoints:

* :mod:`service.http.cycle`, the fast path: uvicorn's protocol hands a matching request straight
  to the endpoint, with no ASGI scope round trip, no Starlette ``Request``/``Response``, no
  middleware stack and no router (``docs/performance.md``: that machinery cost as much CPU per
  request as the model).
* FastAPI, through :func:`asgi_route`: the same endpoints registered as ordinary routes, for the
  OpenAPI document and for the requests the fast path leaves to ASGI (CORS, ``Expect:
  100-continue``, an in-process ASGI client).

So a prediction behaves the same whichever way it came in; only the cost differs.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response
from starlette.routing import compile_path

from service.dataplane import DataPlane, ReadBody
from service.http.body import plane, reader
from service.runtime.runner import ClientGone
from service.timing import Timing


@dataclass(slots=True)
class HotRequest:
    """What a hot endpoint may read from its request, whichever front end decoded it."""

    plane: DataPlane
    params: dict[str, str]
    #: a request header by its lower-case name, or None
    header: Callable[[str], str | None]
    read: ReadBody
    gone: ClientGone


@dataclass(slots=True)
class Answer:
    """A finished response: written as bytes by the fast path, wrapped in a ``Response`` by ASGI."""

    body: bytes
    media_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 200


def json_answer(body: Any, timing: Timing) -> Answer:
    """A prediction's JSON answer with its ``Server-Timing`` header."""
    return Answer(
        orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), headers={"Server-Timing": timing.server_timing()}
    )


Endpoint = Callable[[HotRequest], Awaitable[Answer]]


@dataclass(frozen=True, slots=True)
class HotRoute:
    """One hot path template, its compiled pattern and its endpoint."""

    path: str
    pattern: re.Pattern[str]
    endpoint: Endpoint


class HotRoutes:
    """The hot POST routes, matched with precompiled patterns (no walk over every route)."""

    def __init__(self, routes: Sequence[tuple[str, Endpoint]]) -> None:
        self.routes = [HotRoute(path, compile_path(path)[0], endpoint) for path, endpoint in routes]

    def match(self, path: str) -> tuple[HotRoute, dict[str, str]] | None:
        for route in self.routes:
            found = route.pattern.match(path)
            if found is not None:
                return route, found.groupdict()
        return None


async def asgi_route(endpoint: Endpoint, request: Request, **params: str) -> Response:
    """``endpoint`` as a FastAPI route: the ASGI way in to the same code the fast path calls."""
    answer = await endpoint(
        HotRequest(plane(request), params, request.headers.get, reader(request), request.is_disconnected)
    )
    return Response(answer.body, status_code=answer.status, media_type=answer.media_type, headers=answer.headers)
