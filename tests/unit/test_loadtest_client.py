"""loadtest/client.py in-process: ``_send`` against a scripted session on a fake clock (so latency,
service time and send lag are exact numbers), and the open and closed loops against an aiohttp
server in the same event loop (which payloads go out, in what order, on what schedule)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import SimpleNamespace, TracebackType
from typing import Any

import aiohttp
import numpy as np
import pytest
from aiohttp import web

from loadtest import client
from loadtest.recorder import Segment
from loadtest.workload import Payload

URL = "http://127.0.0.1:9/p"
PAYLOAD = Payload(b"{}", "application/json")


class Clock:
    """A settable stand-in for ``time.perf_counter``."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class _Response:
    def __init__(self, status: int, headers: dict[str, str]) -> None:
        self.status = status
        self.headers = headers

    async def read(self) -> bytes:
        return b""


class ScriptedSession:
    """``post()`` as an async context manager: fires the real headers-sent hook at ``sent_at`` (unless
    None), moves the clock to ``done_at`` and answers ``status``, or raises ``error``."""

    def __init__(
        self,
        clock: Clock,
        sent_at: float | None,
        done_at: float,
        status: int = 200,
        headers: dict[str, str] | None = None,
        error: BaseException | None = None,
    ) -> None:
        self.clock, self.sent_at, self.done_at = clock, sent_at, done_at
        self.status, self.headers, self.error = status, headers or {}, error
        self.calls: list[dict[str, Any]] = []

    def post(self, url: str, *, data: bytes, headers: dict[str, str], trace_request_ctx: Any) -> ScriptedSession:
        self.calls.append({"url": url, "data": data, "headers": headers})
        self._ctx = trace_request_ctx
        return self

    async def __aenter__(self) -> _Response:
        if self.sent_at is not None:
            self.clock.now = self.sent_at
            await client._headers_sent(None, SimpleNamespace(trace_request_ctx=self._ctx), None)  # type: ignore[arg-type]
        self.clock.now = self.done_at
        if self.error is not None:
            raise self.error
        return _Response(self.status, self.headers)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


def _segment() -> Segment:
    return Segment(model="m", round=0, offered_rps=10.0, mode="open", duration_s=1.0)


def _send(monkeypatch: pytest.MonkeyPatch, session: ScriptedSession, start: float | None, **kw: Any) -> Segment:
    monkeypatch.setattr(time, "perf_counter", session.clock)
    seg = _segment()
    asyncio.run(client._send(session, URL, PAYLOAD, {"X-H": "1"}, seg, start, **kw))  # type: ignore[arg-type]
    return seg


def _max_s(h: Any) -> float:
    return float(h.get_max_value()) / 1e6


def test_open_loop_latency_runs_from_the_intended_send(monkeypatch: pytest.MonkeyPatch) -> None:
    # intended 100.2, headers out at 100.5, answer at 101.0
    session = ScriptedSession(Clock(100.0), sent_at=100.5, done_at=101.0, headers={"Server-Timing": "total;dur=7"})
    seg = _send(monkeypatch, session, start=100.2, late_threshold_s=0.25)
    assert session.calls == [{"url": URL, "data": b"{}", "headers": {"X-H": "1"}}]
    assert (seg.ok, seg.sent, seg.late, seg.error_count) == (1, 1, 1, 0)
    assert _max_s(seg.latency) == pytest.approx(0.8, rel=1e-3)  # from the intended send
    assert _max_s(seg.service) == pytest.approx(0.5, rel=1e-3)  # from the actual send
    assert _max_s(seg.send_lag) == pytest.approx(0.3, rel=1e-3)  # actual − intended
    seg.finish()
    assert seg.server_sum_ms == {"total": 7.0}


def test_a_send_lag_under_the_threshold_is_not_late(monkeypatch: pytest.MonkeyPatch) -> None:
    seg = _send(monkeypatch, ScriptedSession(Clock(0.0), sent_at=10.1, done_at=10.2), start=10.0, late_threshold_s=0.2)
    assert (seg.sent, seg.late) == (1, 0)
    # the threshold defaults to zero: any lag is late
    seg = _send(monkeypatch, ScriptedSession(Clock(0.0), sent_at=10.1, done_at=10.2), start=10.0)
    assert (seg.sent, seg.late) == (1, 1)


def test_closed_loop_latency_runs_from_the_actual_send_and_records_no_send(monkeypatch: pytest.MonkeyPatch) -> None:
    seg = _send(monkeypatch, ScriptedSession(Clock(50.0), sent_at=50.25, done_at=51.0), start=None)
    assert (seg.ok, seg.sent, seg.late) == (1, 0, 0)
    assert seg.send_lag.get_total_count() == 0
    assert _max_s(seg.latency) == pytest.approx(0.75, rel=1e-3)
    assert _max_s(seg.service) == pytest.approx(0.75, rel=1e-3)


def test_without_a_headers_sent_event_the_answer_time_stands_in(monkeypatch: pytest.MonkeyPatch) -> None:
    seg = _send(monkeypatch, ScriptedSession(Clock(0.0), sent_at=None, done_at=3.0), start=2.0)
    assert _max_s(seg.latency) == pytest.approx(1.0, rel=1e-3)
    assert seg.service.get_max_value() == 1  # 0 s, clamped to the histogram's 1 µs
    assert _max_s(seg.send_lag) == pytest.approx(1.0, rel=1e-3)  # lag up to the answer


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        (503, None, "http_503"),
        (404, None, "http_404"),
        (200, TimeoutError(), "timeout"),
        (200, aiohttp.ServerDisconnectedError(), "ServerDisconnectedError"),
        (200, ConnectionResetError(), "ConnectionResetError"),
        (200, ValueError("bad"), "ValueError"),
    ],
)
def test_failures_are_counted_by_kind_and_still_count_as_sent(
    monkeypatch: pytest.MonkeyPatch, status: int, error: BaseException | None, kind: str
) -> None:
    seg = _send(
        monkeypatch,
        ScriptedSession(Clock(0.0), sent_at=1.0, done_at=2.0, status=status, error=error),
        start=0.5,
        late_threshold_s=0.1,
    )
    assert seg.errors == Counter({kind: 1})
    assert (seg.ok, seg.sent, seg.late) == (0, 1, 1)
    assert seg.latency.get_total_count() == 0
    assert _max_s(seg.send_lag) == pytest.approx(0.5, rel=1e-3)


def test_a_request_that_never_left_lags_until_it_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    seg = _send(
        monkeypatch, ScriptedSession(Clock(0.0), sent_at=None, done_at=4.0, error=aiohttp.ClientError()), start=1.0
    )
    assert seg.errors == Counter({"ClientError": 1})
    assert _max_s(seg.send_lag) == pytest.approx(3.0, rel=1e-3)


# ---- against a real aiohttp server in this process ---------------------------------------------


@asynccontextmanager
async def _server(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> AsyncIterator[str]:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await handler(request)

    app = web.Application()
    app.router.add_post("/p", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/p"
    finally:
        await runner.cleanup()


class Recorder:
    """A handler that notes each body, checks the headers that came with it, and when it arrived."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.at: list[float] = []
        self.header_mismatch = 0
        self.user_agents: list[str | None] = []
        self.cookies: list[str | None] = []

    async def __call__(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.at.append(time.perf_counter())
        self.bodies.append(body)
        self.header_mismatch += request.headers.get("X-Payload", "").encode() != body
        self.user_agents.append(request.headers.get("User-Agent"))
        self.cookies.append(request.headers.get("Cookie"))
        resp = web.Response(body=b"ok", headers={"Server-Timing": "inference;dur=0.5, total;dur=2"})
        resp.set_cookie("session", "abc")
        return resp


PAYLOADS = [Payload(f"p{i}".encode(), "text/plain", (("X-Payload", f"p{i}"),)) for i in range(3)]


def test_make_session_settings() -> None:
    async def run() -> None:
        session = client.make_session(3, 7.5)
        try:
            assert isinstance(session.connector, aiohttp.TCPConnector)
            assert session.connector.limit == 3 and not session.connector.force_close
            assert session.timeout.total == 7.5
            assert isinstance(session.cookie_jar, aiohttp.DummyCookieJar)
            assert session.auto_decompress is False
            assert "User-Agent" in session.skip_auto_headers
            assert len(session.trace_configs) == 1
        finally:
            await session.close()

    asyncio.run(run())


def test_open_loop_sends_each_payload_in_turn_on_schedule() -> None:
    recorder = Recorder()
    ticks: list[int] = []
    seg = _segment()

    async def run() -> float:
        async with _server(recorder) as url:
            session = client.make_session(4, 5.0)
            try:
                started = time.perf_counter()
                offsets = np.array([0.0, 0.01, 0.02, 0.03, 0.04])
                await client.open_loop(session, url, PAYLOADS, offsets, seg, 5.0, first_payload=1, tick=ticks.append)
                return time.perf_counter() - started
            finally:
                await session.close()

    took = asyncio.run(run())
    # payloads 1, 2, 0, 1, 2 (in whatever order the server saw them)
    assert Counter(recorder.bodies) == Counter({b"p1": 2, b"p2": 2, b"p0": 1})
    assert recorder.header_mismatch == 0
    assert ticks == [1] * 5
    assert (seg.ok, seg.sent, seg.error_count) == (5, 5, 0)
    # on schedule: spread over the 40 ms of offsets, not sent all at once, and not long delayed
    assert max(recorder.at) - min(recorder.at) >= 0.035
    assert 0.04 <= seg.elapsed_s <= took < 2.0
    # each latency runs from its intended send, within the run; no send was 5 s late
    assert 0 < seg.latency.get_max_value() / 1e6 <= took
    assert seg.late == 0 and seg.send_lag.get_total_count() == 5
    # no User-Agent, and the cookie the server set is never sent back
    assert recorder.user_agents == [None] * 5 and recorder.cookies == [None] * 5
    # finish() ran: the Server-Timing phases are folded in
    assert seg.server_count == {"inference": 5, "total": 5}
    assert seg.server_sum_ms == pytest.approx({"inference": 2.5, "total": 10.0})


def test_open_loop_with_nothing_to_send() -> None:
    seg = _segment()

    async def run() -> None:
        session = client.make_session(1, 1.0)
        try:
            await client.open_loop(session, URL, PAYLOADS, np.zeros(0), seg, 0.1)
        finally:
            await session.close()

    asyncio.run(run())
    assert (seg.sent, seg.ok) == (0, 0) and abs(seg.elapsed_s) < 0.5


def test_closed_loop_sends_back_to_back_from_the_first_payload_until_the_duration() -> None:
    recorder = Recorder()
    ticks: list[int] = []
    seg = _segment()

    async def run() -> float:
        async with _server(recorder) as url:
            session = client.make_session(1, 5.0)
            try:
                started = time.perf_counter()
                await client.closed_loop(session, url, PAYLOADS, 1, 0.15, seg, first_payload=2, tick=ticks.append)
                return time.perf_counter() - started
            finally:
                await session.close()

    took = asyncio.run(run())
    n = len(recorder.bodies)
    assert n >= 3
    assert recorder.bodies == [f"p{(2 + i) % 3}".encode() for i in range(n)]  # 2, 0, 1, 2, ...
    assert recorder.header_mismatch == 0
    assert seg.sent == seg.ok == n and ticks == [1] * n and seg.send_lag.get_total_count() == 0
    assert 0.15 <= seg.elapsed_s <= took < 3.0
    assert seg.server_count == {"inference": n, "total": n}


def test_both_loops_start_from_the_first_payload_by_default() -> None:
    recorder = Recorder()

    async def run() -> None:
        async with _server(recorder) as url:
            session = client.make_session(1, 5.0)
            try:
                await client.open_loop(session, url, PAYLOADS, np.zeros(1), _segment(), 1.0)
                await client.closed_loop(session, url, PAYLOADS, 1, 0.05, _segment())
            finally:
                await session.close()

    asyncio.run(run())
    n = len(recorder.bodies)
    assert recorder.bodies[0] == b"p0"  # the open loop's one request
    assert recorder.bodies[1:] == [f"p{i % 3}".encode() for i in range(n - 1)]  # then 0, 1, 2, 0, ...


def test_closed_loop_workers_share_one_sequence() -> None:
    recorder = Recorder()
    seg = _segment()

    async def run() -> None:
        async with _server(recorder) as url:
            session = client.make_session(3, 5.0)
            try:
                await client.closed_loop(session, url, PAYLOADS, 3, 0.1, seg)
            finally:
                await session.close()

    asyncio.run(run())
    n = len(recorder.bodies)
    # three workers draw 0, 1, 2, 0, ... from one counter: the counts differ by at most one
    counts = Counter(recorder.bodies)
    assert n == seg.sent == seg.ok >= 3 and max(counts.values()) - min(counts.values()) <= 1
    assert set(counts) == {b"p0", b"p1", b"p2"}
