"""Draining on SIGTERM, without containers: slow requests in flight and requests sent just before
the signal are all answered 200, and the process exits 0.

The requests are made slow on purpose: with a batching delay longer than ``shutdown_delay_s``,
every request waits in its model's queue past the lame-duck period, so it is still in flight when
uvicorn stops accepting and must be drained (``graceful_shutdown_s``), not cancelled.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import aiohttp

from loadtest.servers import run_server
from tests.service.conftest import history

QUEUE_DELAY_S = 1.2
SHUTDOWN_DELAY_S = 0.3


async def _post(url: str, body: dict[str, object]) -> int:
    # a connection per request, as separate clients would open them
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session,
        session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=20)) as resp,
    ):
        await resp.read()
        return resp.status


def test_sigterm_drains_in_flight_and_just_sent_requests_and_exits_0(tiny_repo: Path, tmp_path: Path) -> None:
    env = {
        "RNN_SERVE_BATCHING": "on",
        "RNN_SERVE_MAX_BATCH_ROWS": "64",
        "RNN_SERVE_MAX_QUEUE_DELAY_US": str(int(QUEUE_DELAY_S * 1e6)),
        "RNN_SERVE_SHUTDOWN_DELAY_S": str(SHUTDOWN_DELAY_S),
        "RNN_SERVE_GRACEFUL_SHUTDOWN_S": "10",
    }
    with run_server(tiny_repo, env=env, log_dir=tmp_path, ready_path="/v2/health/ready") as srv:
        url = f"{srv.url}/v1/models/forecast-gru/predict"
        body = {"history": history()}

        async def scenario() -> list[int]:
            in_flight = [asyncio.ensure_future(_post(url, body)) for _ in range(8)]
            await asyncio.sleep(0.3)  # the 8 are queued (their batch waits QUEUE_DELAY_S)
            just_before = [asyncio.ensure_future(_post(url, body)) for _ in range(4)]
            await asyncio.sleep(0.02)
            srv.process.send_signal(signal.SIGTERM)
            return list(await asyncio.gather(*in_flight, *just_before))

        started = time.monotonic()
        statuses = asyncio.run(scenario())
        assert statuses == [200] * 12, statuses
        assert srv.process.wait(timeout=15) == 0
        # the drain waited for the queued batch, it did not cut it short
        assert time.monotonic() - started >= QUEUE_DELAY_S
