"""The aiohttp sender: open loop timed from each request's intended send, and the closed loop.

Open loop: every request has a fixed intended send time; the loop sleeps until then and fires the
request as its own task, however many are still in flight, and its latency runs from the intended
time. A server stall therefore shows up in every request scheduled during it (no coordinated
omission). The client's own lateness (actual − intended send) is measured, not hidden: the
actual send is when the request's headers were written to a connection (aiohttp's trace hook),
so a request that waited for a free connection, or for a busy client loop, counts as late.

Closed loop ("concurrency mode"): N workers each send, wait, send again. Latency runs from the
actual send, so during a stall the workers simply stop sending: this mode measures capacity, and
its percentiles must NOT be read as user-facing latency under a stall.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from types import SimpleNamespace

import aiohttp
import numpy as np

from loadtest.recorder import Segment
from loadtest.workload import Payload

Tick = Callable[[int], None]


class _Sent:
    """Where the trace hook notes when a request's headers actually left (None: never sent)."""

    __slots__ = ("at",)

    def __init__(self) -> None:
        self.at: float | None = None


async def _headers_sent(_: aiohttp.ClientSession, context: SimpleNamespace, __: object) -> None:
    context.trace_request_ctx.at = time.perf_counter()


def make_session(max_connections: int, timeout_s: float) -> aiohttp.ClientSession:
    """One keep-alive session per run; ``max_connections`` caps sockets, not the schedule."""
    connector = aiohttp.TCPConnector(limit=max_connections, force_close=False, enable_cleanup_closed=True)
    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(_headers_sent)
    # No cookie jar and no decompression: per-request work the measurement does not need.
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        skip_auto_headers=("User-Agent",),
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
        trace_configs=[trace],
    )


async def _send(
    session: aiohttp.ClientSession,
    url: str,
    payload: Payload,
    headers: dict[str, str],
    segment: Segment,
    start: float | None,
    late_threshold_s: float = 0.0,
) -> None:
    """Send one request; record success or the kind of failure.

    ``start`` is the request's intended send (open loop): its latency runs from there, and its
    send lag (actual − intended) is recorded. ``None`` (closed loop): latency from the actual send.
    """
    sent = _Sent()
    try:
        async with session.post(url, data=payload.body, headers=headers, trace_request_ctx=sent) as resp:
            await resp.read()
            done = time.perf_counter()
            actual = sent.at if sent.at is not None else done
            if resp.status == 200:
                segment.record_ok(
                    done - (actual if start is None else start), done - actual, resp.headers.get("Server-Timing")
                )
            else:
                segment.record_error(f"http_{resp.status}")
    except TimeoutError:
        segment.record_error("timeout")
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        # Count every failure by kind; one broken connection must not abort the whole run.
        segment.record_error(type(exc).__name__)
    finally:
        if start is not None:
            segment.record_send((sent.at if sent.at is not None else time.perf_counter()) - start, late_threshold_s)


async def open_loop(
    session: aiohttp.ClientSession,
    url: str,
    payloads: Sequence[Payload],
    offsets: np.ndarray,
    segment: Segment,
    late_threshold_s: float,
    first_payload: int = 0,
    tick: Tick | None = None,
) -> None:
    """Send ``payloads[(first_payload + i) % n]`` at ``t0 + offsets[i]``; wait for every answer."""
    tasks: list[asyncio.Task[None]] = []
    n = len(payloads)
    headers = [p.headers for p in payloads]
    t0 = time.perf_counter() + 0.005

    async def fire(i: int, intended: float) -> None:
        payload = payloads[(first_payload + i) % n]
        await _send(session, url, payload, headers[(first_payload + i) % n], segment, intended, late_threshold_s)
        if tick is not None:
            tick(1)

    for i, offset in enumerate(offsets.tolist()):
        intended = t0 + offset
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(fire(i, intended)))
    if tasks:
        await asyncio.gather(*tasks)
    segment.elapsed_s = time.perf_counter() - t0
    segment.finish()


async def closed_loop(
    session: aiohttp.ClientSession,
    url: str,
    payloads: Sequence[Payload],
    concurrency: int,
    duration: float,
    segment: Segment,
    first_payload: int = 0,
    tick: Tick | None = None,
) -> None:
    """``concurrency`` workers send back-to-back until ``duration`` has passed; latency from actual send."""
    t0 = time.perf_counter()
    deadline = t0 + duration
    counter = iter(range(first_payload, 1 << 62))
    n = len(payloads)
    headers = [p.headers for p in payloads]

    async def worker() -> None:
        while time.perf_counter() < deadline:
            i = next(counter)
            segment.sent += 1
            await _send(session, url, payloads[i % n], headers[i % n], segment, None)
            if tick is not None:
                tick(1)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    segment.elapsed_s = time.perf_counter() - t0
    segment.finish()
