"""An int8 package on a real server (127.0.0.1): listed with its precision, served through the task
route and KServe V2 (binary and JSON tensors, concurrent requests batched), answering what the int8
graph computes, and refused for streaming with the reason. Tiny packages, quantized here."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from export.int8 import HeldOut, build_int8
from loadtest.servers import Server, run_server
from service.package import read_package
from service.runtime.sessions import SessionConfig, open_session
from service.streaming.streams import INT8_NO_STREAMING
from tests.service.conftest import history, one_process, tone, wav_bytes
from tests.service.tiny_models import build_tiny_repository

NAMES = ("forecast-lstm", "keywords-lstm", "sentiment-lstm")


def _held_out(task: str, rng: np.random.Generator) -> HeldOut:
    """Random inputs in the task's tensor format (the tiny weights are random too)."""
    if task == "forecast":
        return HeldOut(rng.standard_normal((40, 96, 7)).astype(np.float32), np.zeros((40, 96), np.float32), "random")
    if task == "keywords":
        return HeldOut(rng.standard_normal((40, 98, 40)).astype(np.float32), rng.integers(0, 10, 40), "random")
    xs = [rng.integers(2, 30, int(n)).astype(np.int64) for n in rng.integers(3, 20, 40)]
    return HeldOut(xs, rng.integers(0, 2, 40), "random")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = build_tiny_repository(tmp_path_factory.mktemp("int8") / "models", NAMES)
    rng = np.random.default_rng(0)
    for name in NAMES:
        build_int8(root / name, root / f"{name}-int8", _held_out(name.split("-")[0], rng), per_channel=False)
    return root


@pytest.fixture(scope="module")
def server(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with run_server(repo, log_dir=tmp_path_factory.mktemp("int8-logs"), ready_path="/v2/health/ready") as srv:
        yield srv


def test_int8_listed_ready_with_its_precision_in_v1_and_v2(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        listed = {m["name"]: m for m in c.get("/v1/models").json()["models"]}
        for name in NAMES:
            assert listed[f"{name}-int8"]["ready"] and listed[f"{name}-int8"]["precision"] == "int8"
            assert listed[name]["precision"] == "fp32"
            assert c.get(f"/v2/models/{name}-int8").json()["parameters"]["precision"] == "int8"
            config = c.get(f"/v2/models/{name}-int8/config").json()
            assert config["parameters"]["precision"] == {"string_value": "int8"}


def test_task_route_serves_int8(server: Server, repo: Path) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        fc = c.post("/v1/models/forecast-lstm-int8/predict", json={"history": history()})
        kw = c.post(
            "/v1/models/keywords-lstm-int8/predict",
            content=wav_bytes(tone(8000, 300)),
            headers={"content-type": "audio/wav"},
        )
        st = c.post("/v1/models/sentiment-lstm-int8/predict", json={"texts": ["a great film", "dull"]})
    assert fc.status_code == kw.status_code == st.status_code == 200, (fc.text, kw.text, st.text)
    assert len(fc.json()["predictions"][0]["forecast"]) == 96
    assert kw.json()["predictions"][0]["label"] in (read_package(repo / "keywords-lstm").labels or [])
    assert {p["label"] for p in st.json()["predictions"]} <= {"negative", "positive"}


@pytest.mark.parametrize("binary", [True, False])
def test_v2_answers_what_the_int8_graph_computes_within_its_tolerance(server: Server, repo: Path, binary: bool) -> None:
    """One 3-row V2 request (binary or JSON tensors): exactly the int8 graph run on that batch with
    the server's one thread, and within the declared tolerance of the fp32 package."""
    import tritonclient.http as triton

    window = np.random.default_rng(1).standard_normal((3, 96, 7)).astype(np.float32)
    item = triton.InferInput("history", list(window.shape), "FP32")
    item.set_data_from_numpy(window, binary_data=binary)
    client = triton.InferenceServerClient(server.url.removeprefix("http://"))
    try:
        got = client.infer("forecast-lstm-int8", [item]).as_numpy("forecast")
    finally:
        client.close()
    one_thread = SessionConfig(intra_op_threads=1)
    int8 = open_session(repo / "forecast-lstm-int8" / "model.onnx", one_thread).run(None, {"history": window})[0]
    fp32 = open_session(repo / "forecast-lstm" / "model.onnx", one_thread).run(None, {"history": window})[0]
    np.testing.assert_allclose(got, int8, atol=1e-5, rtol=0)
    q = read_package(repo / "forecast-lstm-int8").quantization
    assert q is not None and 0 < np.max(np.abs(got - fp32)) <= q.tolerance


def test_concurrent_requests_through_the_batcher_are_all_answered(server: Server) -> None:
    """Dynamic batching (on by default) is in force for an int8 model as for any, and a burst of
    concurrent requests is answered in full and counted."""

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
            body = {"history": history()}
            return await asyncio.gather(
                *(c.post("/v1/models/forecast-lstm-int8/predict", json=body) for _ in range(16))
            )

    answers = asyncio.run(burst())
    assert [r.status_code for r in answers] == [200] * 16
    assert all(len(r.json()["predictions"][0]["forecast"]) == 96 for r in answers)
    listed = httpx.get(f"{server.url}/v1/models/forecast-lstm-int8", timeout=10).json()
    assert listed["runtime"]["batching"]["enabled"] and listed["runtime"]["batching"]["max_batch_rows"] > 1
    stats = httpx.get(f"{server.url}/v2/models/forecast-lstm-int8/stats", timeout=10).json()["model_stats"][0]
    assert stats["inference_count"] >= 16


@one_process
def test_int8_cannot_stream_and_says_why(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        refused = c.post("/v1/models/forecast-lstm-int8/sessions")
        assert refused.status_code == 400 and "int8" in refused.text
        assert c.post("/v1/models/forecast-lstm/sessions").status_code == 201
        assert c.get("/v1/sessions").json()["unavailable"]["forecast-lstm-int8"] == INT8_NO_STREAMING
