"""``HotRoutes``: the prediction POSTs skip Starlette's middleware stack and router.

Why: for every request Starlette and FastAPI walk half a dozen middlewares (error handling,
exception mapping, exit stacks, body limits, telemetry) and match the path against every route
before the endpoint runs; on a loaded server that was about a tenth of the event loop's time in
the profile (``docs/performance.md``). The hot endpoints read their own bodies and return finished
responses, so none of that buys them anything. Here the few hot paths are matched with
precompiled patterns and their endpoints called directly, with errors mapped by the same
:func:`~service.http.errors.to_response` the exception handlers use. Everything else (and every
other method on these paths) goes to the FastAPI app as usual; the hot routes stay registered
there for the OpenAPI document.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.routing import compile_path
from starlette.types import Receive, Scope, Send

from service.http.errors import to_response

Endpoint = Callable[..., Awaitable[Response]]


@dataclass(frozen=True)
class RouteLabel:
    """What ``scope["route"]`` carries for a hot request: its path template (the metrics label)."""

    path: str


class HotRoutes:
    """ASGI: serve POSTs to ``routes`` ((path template, endpoint) pairs) directly; pass the rest on."""

    def __init__(self, app: FastAPI, routes: Sequence[tuple[str, Endpoint]]) -> None:
        self.app = app
        self.routes: list[tuple[re.Pattern[str], Endpoint, RouteLabel]] = [
            (compile_path(path)[0], endpoint, RouteLabel(path)) for path, endpoint in routes
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            for pattern, endpoint, label in self.routes:
                match = pattern.match(path)
                if match is not None:
                    params: dict[str, Any] = match.groupdict()
                    scope["app"], scope["path_params"], scope["route"] = self.app, params, label
                    request = Request(scope, receive, send)
                    try:
                        response = await endpoint(request=request, **params)
                    except Exception as exc:  # mapped in the one place, as Starlette's handlers do
                        response = to_response(request, exc)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
