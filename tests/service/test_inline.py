"""Inline runs (service/inline.py): a lone one-row request on an idle model skips the hop to the
model's thread; concurrent requests, multi-row requests and ``inline_max_us=0`` still hop, and
every path gives the same answers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx
import numpy as np
import pytest

from loadtest.servers import Server, run_server
from tests.service.conftest import history


def _predict(client: httpx.Client, body: dict) -> dict:
    resp = client.post("/v1/models/forecast-gru/predict", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture(scope="module")
def hop_server(tiny_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with run_server(
        tiny_repo,
        env={"RNN_SERVE_INLINE_MAX_US": "0"},
        log_dir=tmp_path_factory.mktemp("hop-logs"),
        ready_path="/v2/health/ready",
    ) as srv:
        yield srv


def test_runtime_reports_the_inline_decision(client: httpx.Client, hop_server: Server) -> None:
    on = {m["name"]: m["runtime"]["inline_when_idle"] for m in client.get("/v1/models").json()["models"]}
    off = {
        m["name"]: m["runtime"]["inline_when_idle"] for m in httpx.get(hop_server.url + "/v1/models").json()["models"]
    }
    for name, info in on.items():
        assert info["one_row_run_us"] > 0 and info["max_us"] == 500
        assert info["enabled"] == (info["one_row_run_us"] <= 500), (name, info)
    assert not any(info["enabled"] for info in off.values()) and all(i["max_us"] == 0 for i in off.values())


def test_a_lone_request_runs_inline_and_hopping_gives_the_same_answer(client: httpx.Client, hop_server: Server) -> None:
    body = {"history": history()}
    inline = [_predict(client, body) for _ in range(5)]
    with httpx.Client(base_url=hop_server.url) as hop_client:
        hopped = [_predict(hop_client, body) for _ in range(5)]
    # nothing queued and no hand-back: the whole non-inference time is gone from "queue"
    assert all(doc["timing"]["queue_ms"] == 0 for doc in inline)
    assert all(doc["timing"]["queue_ms"] > 0 for doc in hopped)
    np.testing.assert_allclose(
        inline[0]["predictions"][0]["forecast"], hopped[0]["predictions"][0]["forecast"], atol=1e-6
    )


def test_multi_row_requests_always_hop(client: httpx.Client) -> None:
    resp = client.post("/v1/models/sentiment-gru/predict", json={"texts": ["a fine film", "dull"]})
    assert resp.status_code == 200
    assert resp.json()["timing"]["queue_ms"] > 0


def test_concurrent_requests_hop_and_agree(server: Server, client: httpx.Client) -> None:
    """32 at once: most see company and take the hop (queue > 0); all answers equal the lone one."""
    body = {"history": history()}
    alone = _predict(client, body)["predictions"][0]["forecast"]

    async def burst() -> list[dict]:
        async with aiohttp.ClientSession() as session:

            async def one() -> dict:
                async with session.post(server.url + "/v1/models/forecast-gru/predict", json=body) as resp:
                    assert resp.status == 200
                    return await resp.json()

            return await asyncio.gather(*(one() for _ in range(32)))

    docs = asyncio.run(burst())
    hopped = [d for d in docs if d["timing"]["queue_ms"] > 0]
    assert len(hopped) >= 16, [d["timing"]["queue_ms"] for d in docs]
    for doc in docs:
        np.testing.assert_allclose(doc["predictions"][0]["forecast"], alone, atol=1e-6)
