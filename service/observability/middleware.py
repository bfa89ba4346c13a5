"""The ASGI middleware that observes every HTTP request: its ID, the in-flight count, its status.

Pure ASGI (cheaper than Starlette's ``BaseHTTPMiddleware``). It gives every response an
``X-Request-ID`` (the client's, when it sent a sane one), counts requests in flight (the inline
rule and the in-flight gauge read that count) and counts each finished request by model, route
and status. A client that left before its answer is counted as 499, apart from real 5xx.
The fast path (:mod:`service.http.cycle`) does the same for the hot requests it answers, with
this middleware's request IDs and metrics.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.observability.metrics import Metrics
from service.runtime.activity import ACTIVITY

_REQUEST_ID = re.compile(rb"^[\x21-\x7e]{1,128}$")


class RequestIds:
    """Unique request IDs without a ``uuid4()`` per request (an ``os.urandom`` system call each,
    2–3 % of the event loop's time under load): a random prefix per app (made when the app is,
    so forked workers differ) and a counter. 32 hex characters, like a uuid4's hex."""

    def __init__(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._count = itertools.count()

    def next(self) -> bytes:
        return f"{self._prefix}{next(self._count):016x}".encode()


class RequestMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.ids = RequestIds()

    def request_id(self, headers: Iterable[tuple[bytes, bytes]]) -> bytes:
        """The client's ``X-Request-ID`` (from the request's header list) when it sent a sane one,
        else a new one."""
        incoming = next((v for k, v in headers if k == b"x-request-id"), b"")
        return incoming if _REQUEST_ID.match(incoming) else self.ids.next()

    def count(self, params: dict[str, str], route: str, status: int) -> None:
        """A finished request in ``requests{model,route,status}``, its model or task taken from its
        path parameters."""
        self.metrics.count_request(params.get("name") or params.get("task") or "", route, status)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = self.request_id(scope["headers"])
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id)]
            await send(message)

        ACTIVITY.enter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            ACTIVITY.leave()
            self.count(scope.get("path_params") or {}, getattr(scope.get("route"), "path", "unmatched"), status)
