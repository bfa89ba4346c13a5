"""Prometheus metrics (``GET /metrics``) and the ASGI middleware that counts every request.

Latency buckets run from 50 µs to 10 s: the tiny models' ``session.run`` is sub-millisecond,
so the usual 5 ms first bucket would put every inference into one bucket.
"""

from __future__ import annotations

import re
import itertools
import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.batching import CLIENT_RECEIVE
from service.inline import ACTIVITY
from service.timing import PHASES, Timing

BUCKETS = (
    50e-6, 100e-6, 200e-6, 300e-6, 500e-6, 750e-6, 1e-3, 1.5e-3, 2e-3, 3e-3, 5e-3, 7.5e-3,
    10e-3, 20e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1.0, 2.5, 5.0, 10.0,
)
_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,128}$")


class RequestIds:
    """Unique request IDs without a ``uuid4()`` per request (an ``os.urandom`` system call each,
    2–3 % of the event loop's time under load): a random prefix per app (made when the app is,
    so forked workers differ) and a counter. 32 hex characters, like a uuid4's hex."""

    def __init__(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._count = itertools.count()

    def next(self) -> bytes:
        return f"{self._prefix}{next(self._count):016x}".encode()


class Metrics:
    """The app's collectors, in their own registry so several apps never collide."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "rnn_serve_requests", "HTTP requests by model, route and status",
            ["model", "route", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "rnn_serve_latency_seconds", "Per-phase latency of successful predictions",
            ["model", "phase"], buckets=BUCKETS, registry=self.registry,
        )
        self.in_flight = Gauge(
            "rnn_serve_requests_in_flight", "Requests being handled now", registry=self.registry
        )
        self._children: dict[tuple[str, str], Any] = {}
        self._request_children: dict[tuple[str, str, int], Any] = {}
        #: Model/task names worth a label; anything else is counted as "unknown" so random
        #: 404 names cannot grow the label set without bound.
        self.known_names: set[str] = set()

    def observe(self, model: str, timing: Timing) -> None:
        for phase in PHASES:
            key = (model, phase)
            child = self._children.get(key)
            if child is None:
                child = self._children[key] = self.latency.labels(model=model, phase=phase)
            child.observe(getattr(timing, f"{phase}_ns") / 1e9)

    def count_request(self, model: str, route: str, status: int) -> None:
        """``requests{model,route,status}`` += 1, with the child cached: ``labels()`` costs µs."""
        key = (model, route, status)
        child = self._request_children.get(key)
        if child is None:
            child = self._request_children[key] = self.requests.labels(model=model, route=route, status=str(status))
        child.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RequestMiddleware:
    """Pure ASGI (cheaper than BaseHTTPMiddleware): X-Request-ID, in-flight gauge, request counter."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.ids = RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
        request_id = incoming if _REQUEST_ID.match(incoming.decode("latin-1")) else self.ids.next()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id)]
            await send(message)

        self.metrics.in_flight.inc()
        ACTIVITY.requests += 1
        CLIENT_RECEIVE.set(receive)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            ACTIVITY.requests -= 1
            self.metrics.in_flight.dec()
            route = scope.get("route")
            params = scope.get("path_params") or {}
            name = params.get("name") or params.get("task") or ""
            self.metrics.count_request(
                name if not name or name in self.metrics.known_names else "unknown",
                getattr(route, "path", "unmatched"), status,
            )
