"""Dynamic batching through the real server: concurrent requests share runs and get the answers
they would get alone (real SST-2 sentences of different lengths), multi-row requests ride as a
unit, batch stats and Prometheus move, a full queue is refused, a gone client is dropped."""

from __future__ import annotations

import asyncio
import base64
import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import numpy as np
import onnxruntime as ort
import pytest

from loadtest.servers import Server, run_server
from service.package import MODEL_FILE, read_package
from service.tasks import task_for
from tests.service.conftest import REPO_ROOT, WORKERS, history, one_process, tone, wav_bytes

SST2 = REPO_ROOT.parent / "shared" / "data" / "sentiment" / "sst2_glue" / "dev.tsv"
REAL_MODELS = REPO_ROOT / "models"
BATCHING_ENV = {
    "RNN_SERVE_BATCHING": "on",
    "RNN_SERVE_MAX_BATCH_ROWS": "16",
    "RNN_SERVE_MAX_QUEUE_DELAY_US": "20000",
}  # 20 ms: batches form even on a busy box


def sst2_sentences(n: int) -> list[str]:
    if not SST2.is_file():
        pytest.skip(f"SST-2 not found at {SST2} (shared data is beside the repository)")
    lines = SST2.read_text(encoding="utf-8").splitlines()[1:]
    sentences = [line.split("\t")[0].strip() for line in lines if line.strip()]
    # a spread of lengths, so batches really are right-padded
    sentences.sort(key=len)
    step = max(1, len(sentences) // n)
    return sentences[::step][:n]


class Direct:
    """The unbatched reference: the package's own preprocessing, then ORT on one request alone."""

    def __init__(self, repo: Path, name: str) -> None:
        folder = repo / name
        self.package = read_package(folder)
        self.task = task_for(self.package, folder, 64)
        self.session = ort.InferenceSession(str(folder / MODEL_FILE), providers=["CPUExecutionProvider"])

    def predict(self, body: bytes, content_type: str = "application/json") -> list[dict[str, Any]]:
        inputs = self.task.preprocess(self.task.parse(body, content_type))
        names = [o.name for o in self.package.outputs]
        outputs = dict(zip(names, self.session.run(names, inputs), strict=True))
        return self.task.postprocess(outputs)


def numbers(answer: dict[str, Any]) -> np.ndarray:
    if "forecast" in answer:
        return np.asarray(answer["forecast"])
    return np.asarray(list(answer["probabilities"].values()))


async def post_all(url: str, requests: list[tuple[str, bytes, str]]) -> list[tuple[int, dict, dict]]:
    """Send every request at once; (status, json, headers) per request, in order."""
    async with aiohttp.ClientSession() as session:

        async def one(path: str, body: bytes, ctype: str) -> tuple[int, dict, dict]:
            async with session.post(url + path, data=body, headers={"Content-Type": ctype}) as resp:
                return resp.status, await resp.json(content_type=None), dict(resp.headers)

        return await asyncio.gather(*(one(*r) for r in requests))


@pytest.fixture(scope="module")
def batching_server(tiny_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with run_server(
        tiny_repo, env=BATCHING_ENV, log_dir=tmp_path_factory.mktemp("batch-logs"), ready_path="/v2/health/ready"
    ) as srv:
        yield srv


def check_same_as_alone(repo: Path, server: Server, name: str, bodies: list[tuple[bytes, str]]) -> list[int]:
    """Fire ``bodies`` concurrently; each answer must equal the unbatched one. Returns batch sizes."""
    direct = Direct(repo, name)
    results = asyncio.run(post_all(server.url, [(f"/v1/models/{name}/predict", b, c) for b, c in bodies]))
    sizes = []
    for (body, ctype), (status, doc, headers) in zip(bodies, results, strict=True):
        assert status == 200, doc
        want = direct.predict(body, ctype)
        assert len(doc["predictions"]) == len(want)
        for got, ref in zip(doc["predictions"], want, strict=True):
            np.testing.assert_allclose(numbers(got), numbers(ref), atol=1e-5, rtol=0)
            assert got.get("label") == ref.get("label")
        size = doc["timing"]["batch_size"]
        assert f'batch;desc="size={size}"' in headers["Server-Timing"]
        assert size >= len(doc["predictions"])  # its own rows, plus those it shared the run with
        sizes.append(size)
    return sizes


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_sst2_sentences_batched_equal_unbatched(batching_server: Server, tiny_repo: Path, cell: str) -> None:
    sentences = sst2_sentences(40)
    bodies = [(httpx.Request("POST", "/", json={"text": s}).content, "application/json") for s in sentences[:32]]
    bodies += [
        (httpx.Request("POST", "/", json={"texts": sentences[i : i + 3]}).content, "application/json")
        for i in range(32, 40, 3)
    ]  # multi-row requests ride as a unit
    sizes = check_same_as_alone(tiny_repo, batching_server, f"sentiment-{cell}", bodies)
    assert max(sizes) > 1, f"no request rode in a batch: {sizes}"


@pytest.mark.skipif(not (REAL_MODELS / "sentiment-gru" / MODEL_FILE).is_file(), reason="no trained models/ yet")
def test_sst2_batched_equal_unbatched_on_the_trained_models(tmp_path: Path) -> None:
    sentences = sst2_sentences(48)
    bodies = [(httpx.Request("POST", "/", json={"text": s}).content, "application/json") for s in sentences]
    with run_server(REAL_MODELS, env=BATCHING_ENV, log_dir=tmp_path, ready_path="/v2/health/live") as srv:
        ready = {m["name"] for m in httpx.get(srv.url + "/v1/models").json()["models"] if m["ready"]}
        names = [n for n in ("sentiment-lstm", "sentiment-gru") if n in ready]
        if not names:
            pytest.skip("the trained sentiment packages are not loadable right now (being re-written?)")
        for name in names:
            assert max(check_same_as_alone(REAL_MODELS, srv, name, bodies)) > 1


@pytest.mark.parametrize("name", ["keywords-lstm", "keywords-gru", "forecast-lstm", "forecast-gru"])
def test_fixed_shape_models_batched_equal_unbatched(batching_server: Server, tiny_repo: Path, name: str) -> None:
    if name.startswith("keywords"):
        bodies = [(wav_bytes(tone(8000, 200 + 40 * i)), "audio/wav") for i in range(12)]
        bodies.append(
            (
                httpx.Request(
                    "POST", "/", json={"audio_base64": base64.b64encode(wav_bytes(tone(6000, 900))).decode()}
                ).content,
                "application/json",
            )
        )
    else:
        bodies = [
            (httpx.Request("POST", "/", json={"history": history(seed=i)}).content, "application/json")
            for i in range(13)
        ]
    assert max(check_same_as_alone(tiny_repo, batching_server, name, bodies)) > 1


def test_v2_batch_of_four_rides_as_a_unit(batching_server: Server, tiny_repo: Path) -> None:
    direct = Direct(tiny_repo, "sentiment-gru")
    rng = np.random.default_rng(3)
    tensors = [rng.integers(2, 20, size=(n, t)) for n, t in ((4, 7), (1, 3), (4, 11), (1, 5), (2, 2))]
    bodies = [
        httpx.Request(
            "POST",
            "/",
            json={
                "inputs": [{"name": "tokens", "shape": list(t.shape), "datatype": "INT64", "data": t.ravel().tolist()}]
            },
        ).content
        for t in tensors
    ]
    results = asyncio.run(
        post_all(batching_server.url, [("/v2/models/sentiment-gru/infer", b, "application/json") for b in bodies])
    )
    for t, (status, doc, _) in zip(tensors, results, strict=True):
        assert status == 200, doc
        want = direct.session.run(["logits"], {"tokens": t, "lengths": np.full(len(t), t.shape[1])})[0]
        got = np.asarray(doc["outputs"][0]["data"], dtype=np.float32).reshape(doc["outputs"][0]["shape"])
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
        assert doc["parameters"]["batch_size"] >= len(t)


def test_batch_stats_prometheus_and_config_show_batching(batching_server: Server) -> None:
    url = batching_server.url
    body = {"history": history()}
    asyncio.run(
        post_all(
            url,
            [("/v1/models/forecast-gru/predict", httpx.Request("POST", "/", json=body).content, "application/json")]
            * 8,
        )
    )
    stats = httpx.get(f"{url}/v2/models/forecast-gru/stats").json()["model_stats"][0]
    batches = {b["batch_size"]: b for b in stats["batch_stats"]}
    assert sum(size * b["compute_infer"]["count"] for size, b in batches.items()) == stats["inference_count"]
    assert sum(b["compute_infer"]["count"] for b in batches.values()) == stats["execution_count"]
    assert any(size > 1 and b["compute_infer"]["ns"] > 0 for size, b in batches.items())
    metrics = httpx.get(f"{url}/metrics").text
    count = re.search(r'rnn_serve_batch_size_count\{model="forecast-gru"\} (\S+)', metrics)
    total = re.search(r'rnn_serve_batch_size_sum\{model="forecast-gru"\} (\S+)', metrics)
    assert count and float(count[1]) == stats["execution_count"]
    assert total and float(total[1]) == stats["inference_count"]
    assert 'rnn_serve_queue_depth{model="forecast-gru"} 0.0' in metrics
    config = httpx.get(f"{url}/v2/models/forecast-gru/config").json()
    assert config["dynamic_batching"]["max_queue_delay_microseconds"] == 20000
    runtime = config["runtime"]
    assert runtime["onnxruntime_version"] == ort.__version__
    assert runtime["execution_providers"] == ["CPUExecutionProvider"]
    assert (runtime["intra_op_threads"], runtime["inter_op_threads"], runtime["graph_optimization_level"]) == (
        1,
        1,
        "all",
    )
    assert runtime["batching"]["max_batch_rows"] == 16 and runtime["batching"]["enabled"] is True
    listed = {m["name"]: m for m in httpx.get(f"{url}/v1/models").json()["models"]}
    if WORKERS > 1:  # each worker times its own warm-up run, and the two GETs may reach different ones
        for doc in (runtime, listed["forecast-gru"]["runtime"]):
            assert doc["inline_when_idle"].pop("one_row_run_us") > 0
    assert listed["forecast-gru"]["runtime"] == runtime


def _queued(server: Server, model: str) -> float:
    metrics = httpx.get(server.url + "/metrics").text
    found = re.search(rf'rnn_serve_queue_depth\{{model="{model}"\}} (\S+)', metrics)
    return float(found[1]) if found else 0.0


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``condition`` (a blocking check, run on a thread) instead of sleeping a guessed time."""
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


@pytest.fixture(scope="module")
def slow_server(tiny_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A 400 ms batch wait and room for 2 queued requests: overload and disconnects are easy to stage."""
    env = {**BATCHING_ENV, "RNN_SERVE_MAX_QUEUE_DELAY_US": "400000", "RNN_SERVE_MAX_QUEUE_SIZE": "2"}
    with run_server(
        tiny_repo, env=env, log_dir=tmp_path_factory.mktemp("slow-logs"), ready_path="/v2/health/ready"
    ) as srv:
        yield srv


@one_process  # each worker has its own queue: a burst spreads over them and may fill none
def test_full_queue_answers_503_with_retry_after_at_once_then_recovers(slow_server: Server) -> None:
    body = httpx.Request("POST", "/", json={"history": history()}).content
    path = "/v1/models/forecast-lstm/predict"

    async def go() -> tuple[list, float, tuple]:
        async with aiohttp.ClientSession() as session:

            async def one() -> tuple[int, dict, float]:
                t0 = time.monotonic()
                async with session.post(
                    slow_server.url + path, data=body, headers={"Content-Type": "application/json"}
                ) as resp:
                    return resp.status, dict(resp.headers), time.monotonic() - t0

            first = [asyncio.ensure_future(one()) for _ in range(2)]
            await _until(lambda: _queued(slow_server, "forecast-lstm") == 2)  # both wait for the batch to fill
            refused = await one()
            return await asyncio.gather(*first), refused[2], refused

    done, refused_s, (status, headers, _) = asyncio.run(go())
    assert status == 503 and headers["Retry-After"].isdigit()
    assert refused_s < 0.25  # refused at once, not after the 400 ms batch wait
    assert [d[0] for d in done] == [200, 200]
    assert httpx.post(slow_server.url + path, content=body, timeout=10).status_code == 200  # recovered


def _dropped(server: Server, model: str) -> float:
    metrics = httpx.get(server.url + "/metrics").text
    found = re.search(rf'rnn_serve_batch_queue_refused_total\{{model="{model}",reason="client_gone"\}} (\S+)', metrics)
    return float(found[1]) if found else 0.0


def _executions(server: Server, model: str) -> int:
    return int(httpx.get(f"{server.url}/v2/models/{model}/stats").json()["model_stats"][0]["execution_count"])


def test_disconnected_client_is_dropped_from_the_queue(slow_server: Server) -> None:
    body = httpx.Request("POST", "/", json={"history": history()}).content
    host, port = slow_server.url.removeprefix("http://").split(":")
    raw = (
        f"POST /v1/models/forecast-gru/predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    dropped, executions = _dropped(slow_server, "forecast-gru"), _executions(slow_server, "forecast-gru")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(raw)
    asyncio.run(_until(lambda: _queued(slow_server, "forecast-gru") == 1))  # waiting (400 ms) for a batch
    sock.close()
    # its batch falls due: the batcher finds the client gone and never runs it
    asyncio.run(_until(lambda: _dropped(slow_server, "forecast-gru") == dropped + 1))
    assert _executions(slow_server, "forecast-gru") == executions
