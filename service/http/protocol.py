"""uvicorn's httptools protocol with the limits it lacks: header size, header count, header time.

uvicorn bounds neither the size nor the number of request headers (a 16 MiB header and 100,000
headers were accepted), and nothing bounds how long a client may take to send them: a connection
that opens and trickles a header line is held for ever, so a few thousand such connections
exhaust the file limit. This protocol answers 431 when the headers of one request exceed
``max_header_bytes`` or ``max_headers`` (checked as the bytes arrive, so at most one read of
excess is buffered), and 408 when they have not all arrived ``header_timeout_s`` after the
connection opened or the request began; both close the connection. The body's own deadline is
``body_timeout_s``, enforced where the body is read (:mod:`service.http.body`).
"""

from __future__ import annotations

import asyncio
import logging
from asyncio import TimerHandle
from typing import Any

import orjson
from uvicorn._types import ASGI3Application
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from service.http.cycle import FastPath
from service.settings import Settings

log = logging.getLogger("rnn_serve.http")

_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request that was refused."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    max_header_bytes = 32 * 1024
    max_headers = 100
    header_timeout_s = 10.0
    #: hot requests answered without ASGI (None: every request goes to the ASGI app)
    fast_path: FastPath | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._awaiting_headers = True
        self._header_bytes = 0  # names + values of the complete header fields parsed so far
        self._pending_header_bytes = 0  # raw bytes read while the headers were still incomplete
        self._header_timer: TimerHandle | None = None
        self._boundary_in_read = False
        self._refused = False

    @classmethod
    def configured(cls, settings: Settings, fast_path: FastPath | None = None) -> type[GuardedHttpToolsProtocol]:
        """This protocol with the limits of ``settings`` and the app's fast path (uvicorn
        instantiates the class itself)."""
        return type(
            "GuardedHttpToolsProtocol",
            (cls,),
            {
                "max_header_bytes": settings.max_header_bytes,
                "max_headers": settings.max_headers,
                "header_timeout_s": settings.header_timeout_s,
                "fast_path": fast_path,
            },
        )

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self._awaiting_headers and (self._header_bytes or self._pending_header_bytes or self.headers):
            self._refuse(408, "headers", f"all request headers within header_timeout_s ({self.header_timeout_s:g} s)")
        elif self._awaiting_headers and not self.transport.is_closing():
            self.transport.close()  # a connection that never sent a byte: nobody to answer

    def _refuse(self, status: int, field: str, rule: str) -> None:
        """Answer ``status`` with the service's error shape, then close the connection."""
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        self._cancel_header_timer()
        body = orjson.dumps({"error": f"{field}: {rule}", "field": field, "rule": rule})
        self.transport.write(
            b"".join(
                [
                    b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status]),
                    b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body),
                    body,
                ]
            )
        )
        self.transport.close()
        log.info("refused a request from %s with %d: %s", self.client, status, rule)

    # ---- uvicorn's protocol hooks -----------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self._boundary_in_read = False
        super().data_received(data)
        # Headers still incomplete after this read: its bytes are header bytes (a read in which some
        # request's headers or body ended also carries that request's bytes), so a header that
        # trickles in over many reads is refused before it is buffered whole.
        if self._awaiting_headers and not self._refused and not self._boundary_in_read:
            self._pending_header_bytes += len(data)
            if self._pending_header_bytes > self.max_header_bytes:
                self._refuse(
                    431, "headers", f"request headers of at most {self.max_header_bytes} bytes (max_header_bytes)"
                )

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # a refusal already answered this request
            super().send_400_response(msg)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting_headers = True
        self._header_bytes = self._pending_header_bytes = 0
        self._arm_header_timer()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if len(self.headers) >= self.max_headers:
            self._refuse(431, "headers", f"at most {self.max_headers} request header fields (max_headers)")
            raise _Refused
        if self._header_bytes > self.max_header_bytes:
            self._refuse(431, "headers", f"request headers of at most {self.max_header_bytes} bytes (max_header_bytes)")
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._boundary_in_read = True
        self._cancel_header_timer()
        super().on_headers_complete()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        """Start a request (now, or when the pipelined one before it is answered): a hot one on
        the fast path, tracked as uvicorn tracks its own tasks (graceful shutdown waits for it)."""
        hot = self.fast_path.match(cycle) if self.fast_path is not None and app is self.app else None
        if hot is None:
            super()._start_asgi_task(cycle, app)
            return
        task = self.loop.create_task(self.fast_path.run(cycle, *hot))  # type: ignore[union-attr]
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._boundary_in_read = True
        self._awaiting_headers = True
        self._header_bytes = self._pending_header_bytes = 0
