"""The fast path: uvicorn's protocol hands a hot request straight to its endpoint, without ASGI.

Why: after the model thread, the V2 codec and the hot-route table were made cheap, what was left
of a request's CPU outside ``session.run`` was mostly the machinery between the socket and the
endpoint: uvicorn's ASGI scope and message dicts and its ``send`` checks, Starlette's ``Request``,
``Headers`` and ``Response``, the middleware's wrapped ``send``, the body read as an async
generator under a timer (``docs/performance.md`` has the profile and the figures). For a hot POST
the protocol already holds everything an endpoint needs: the parsed headers, the body (usually
complete by the time the request's task runs) and the transport. :class:`FastPath` reads those
from uvicorn's request cycle, calls the same endpoint FastAPI would (:mod:`service.http.hot`),
and writes the answer's bytes itself.

Everything else about the connection stays uvicorn's: keep-alive and its timeout, pipelining,
flow control, graceful shutdown (the request's task is one of the server's tasks). A request is
left to ASGI when it is not a hot POST, asks for ``Expect: 100-continue``, or CORS is configured;
the answers are the same either way (the tests run both), including the body limits, the
request ID, the in-flight count and the request counter.
"""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, RequestResponseCycle
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

from service.http.body import read_cycle_body
from service.http.errors import to_service_error
from service.http.hot import Answer, HotRequest, HotRoute, HotRoutes
from service.observability.middleware import RequestMiddleware
from service.runtime.activity import ACTIVITY
from service.settings import Settings

log = logging.getLogger("rnn_serve.http")

_INTERNAL = (
    b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 21\r\nconnection: close\r\n\r\nInternal Server Error"
)


class FastPath:
    """The hot routes, answered from inside the protocol; :meth:`match` says which requests."""

    def __init__(self, routes: HotRoutes, app: FastAPI, observer: RequestMiddleware, settings: Settings) -> None:
        self.routes = routes
        self.app = app
        self.observer = observer
        self.settings = settings

    def match(self, cycle: RequestResponseCycle) -> tuple[HotRoute, dict[str, str]] | None:
        """The route and path parameters of a request this path answers, else None (ASGI's)."""
        scope = cycle.scope
        if scope["method"] != "POST" or cycle.waiting_for_100_continue:
            return None
        return self.routes.match(scope["path"])

    async def run(self, cycle: RequestResponseCycle, route: HotRoute, params: dict[str, str]) -> None:
        """The request's task: answer it, and never leave the connection without an answer."""
        try:
            await self._serve(cycle, route, params)
        except BaseException as exc:  # as uvicorn's run_asgi: a 500 if nothing was sent yet
            log.error("exception on the fast path", exc_info=exc)
            if not cycle.response_started and not cycle.disconnected:
                cycle.response_started = True
                cycle.transport.write(_INTERNAL)
            cycle.transport.close()
        finally:
            cycle.on_response = lambda: None

    async def _serve(self, cycle: RequestResponseCycle, route: HotRoute, params: dict[str, str]) -> None:
        headers = cycle.scope["headers"]

        def header(name: str) -> str | None:
            key = name.encode("latin-1")
            for k, v in headers:
                if k == key:
                    return v.decode("latin-1")
            return None

        async def gone() -> bool:
            return cycle.disconnected

        async def read() -> bytes:
            return await read_cycle_body(cycle, header("content-length"), self.settings)

        request_id = self.observer.request_id(headers)
        status = 500
        ACTIVITY.enter()
        try:
            try:
                answer = await route.endpoint(HotRequest(self.app.state.plane, params, header, read, gone))
            except Exception as exc:  # mapped in the one place, as the ASGI routes' handlers do
                err = to_service_error(exc, "POST", cycle.scope["path"])
                answer = Answer(orjson.dumps(err.body()), headers=err.headers, status=err.status)
            status = answer.status
            await self._write(cycle, answer, request_id)
        finally:
            ACTIVITY.leave()
            self.observer.count(params, route.path, status)

    async def _write(self, cycle: RequestResponseCycle, answer: Answer, request_id: bytes) -> None:
        """What uvicorn's ``send`` does for a complete response with a known length, in one write."""
        if cycle.flow.write_paused and not cycle.disconnected:
            await cycle.flow.drain()
        if cycle.disconnected:
            return
        if cycle.access_log:
            scope = cycle.scope
            cycle.access_logger.info(
                '%s - "%s %s HTTP/%s" %d',
                get_client_addr(scope),
                scope["method"],
                get_path_with_query_string(scope),
                scope["http_version"],
                answer.status,
            )
        content = [STATUS_LINE[answer.status]]
        for name, value in cycle.default_headers:
            content += [name, b": ", value, b"\r\n"]
        content.append(b"content-length: %d\r\ncontent-type: %s\r\n" % (len(answer.body), answer.media_type.encode()))
        close_sent = False
        for key, text in answer.headers.items():
            name = key.lower().encode("latin-1")
            if name == b"connection" and text.lower() == "close":
                cycle.keep_alive, close_sent = False, True
            content += [name, b": ", text.encode("latin-1"), b"\r\n"]
        content += [b"x-request-id: ", request_id, b"\r\n"]
        if not cycle.keep_alive and not close_sent:
            content.append(b"connection: close\r\n")
        content += [b"\r\n", answer.body]
        cycle.response_started = True
        cycle.transport.write(b"".join(content))
        cycle.response_complete = True
        cycle.message_event.set()
        if not cycle.keep_alive:
            cycle.transport.close()
        cycle.on_response()
