"""Streaming sessions over HTTP on the tiny packages: N chunks == one-shot, limits, expiry, V2 sequences."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.http as triton

from loadtest.servers import Server, run_server
from tests.service.conftest import history, one_process, tone, wav_bytes

pytestmark = one_process

CELLS = ("lstm", "gru")


def _open(client: httpx.Client, model: str) -> str:
    r = client.post(f"/v1/models/{model}/sessions")
    assert r.status_code == 201, r.text
    return r.json()["session_id"]


def _chunk(client: httpx.Client, model: str, sid: str, **kwargs: object) -> httpx.Response:
    return client.post(f"/v1/models/{model}/sessions/{sid}/chunks", **kwargs)  # type: ignore[arg-type]


def _probs(answer: dict) -> np.ndarray:
    return np.array(list(answer["predictions"][0]["probabilities"].values()))


@pytest.mark.parametrize("cell", CELLS)
def test_sentiment_chunks_equal_one_shot(client: httpx.Client, cell: str) -> None:
    model = f"sentiment-{cell}"
    sid = _open(client, model)
    pieces = ["the acting is good", ", but", "the plot is dull and boring ."]
    for piece in pieces:
        r = _chunk(client, model, sid, json={"text": piece})
        assert r.status_code == 200, r.text
    streamed = r.json()
    assert streamed["steps"] == 13 and streamed["chunks"] == 3
    one_shot = client.post(f"/v1/models/{model}/predict", json={"text": " ".join(pieces)}).json()
    np.testing.assert_allclose(_probs(streamed), _probs(one_shot), atol=1e-5)
    assert streamed["predictions"][0]["label"] == one_shot["predictions"][0]["label"]
    assert "Server-Timing" in r.headers and streamed["timing"]["inference_ms"] > 0


@pytest.mark.parametrize("cell", CELLS)
def test_keywords_sample_chunks_equal_one_shot(client: httpx.Client, cell: str) -> None:
    """Uneven raw-sample chunks (not frame-aligned) of a 1-s clip == /predict on the whole clip."""
    model = f"keywords-{cell}"
    audio = tone(8000, 523.0) * np.linspace(0.2, 1.0, 8000, dtype=np.float32)
    sid = _open(client, model)
    bounds = [0, 150, 151, 1999, 4000, 8000]  # the first chunk holds no complete frame (< 200 samples)
    answers = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        if a == 1999:
            r = _chunk(client, model, sid, content=wav_bytes(audio[a:b]), headers={"Content-Type": "audio/wav"})
        else:
            r = _chunk(client, model, sid, json={"samples": audio[a:b].tolist(), "sample_rate": 8000})
        assert r.status_code == 200, r.text
        answers.append(r.json())
    assert answers[0]["predictions"] == [] and answers[0]["steps"] == 0 and answers[0]["pending_samples"] == 150
    assert answers[-1]["steps"] == 98  # the frames of the 1-s window
    pcm = np.frombuffer(wav_bytes(audio), dtype="<i2", offset=44).astype(np.float32) / 32768.0
    expected_audio = audio.copy()
    expected_audio[1999:4000] = pcm[1999:4000]  # that chunk went as 16-bit WAV
    one_shot = client.post(
        f"/v1/models/{model}/predict", json={"samples": expected_audio.tolist(), "sample_rate": 8000}
    ).json()
    np.testing.assert_allclose(_probs(answers[-1]), _probs(one_shot), atol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_forecast_row_chunks_equal_one_shot(client: httpx.Client, cell: str) -> None:
    model = f"forecast-{cell}"
    rows = history(96, seed=3)
    sid = _open(client, model)
    for a, b in ((0, 1), (1, 40), (40, 95), (95, 96)):
        r = _chunk(client, model, sid, json={"rows": rows[a:b]})
        assert r.status_code == 200, r.text
    streamed = r.json()
    one_shot = client.post(f"/v1/models/{model}/predict", json={"history": rows}).json()
    np.testing.assert_allclose(
        streamed["predictions"][0]["forecast"], one_shot["predictions"][0]["forecast"], atol=1e-4
    )
    assert streamed["predictions"][0]["unit"] == "°C" and streamed["steps"] == 96


def test_state_bytes_lstm_twice_gru(client: httpx.Client) -> None:
    models = client.get("/v1/sessions").json()["models"]
    for task in ("sentiment", "keywords", "forecast"):
        gru, lstm = models[f"{task}-gru"], models[f"{task}-lstm"]
        assert lstm["recurrent_state_bytes"] == 2 * gru["recurrent_state_bytes"] > 0
    sid = _open(client, "forecast-lstm")
    held = client.get("/v1/sessions").json()
    assert held["state_bytes_held"] >= models["forecast-lstm"]["bytes_per_session"]
    info = client.get(f"/v1/models/forecast-lstm/sessions/{sid}").json()
    assert info["state_bytes"] == models["forecast-lstm"]["bytes_per_session"]
    scraped = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in client.get("/metrics").text.splitlines()
        if line.startswith("rnn_serve_stream_")
    }
    assert scraped['rnn_serve_stream_state_bytes{model="forecast-lstm"}'] >= info["state_bytes"]
    assert scraped['rnn_serve_stream_sessions{model="forecast-lstm"}'] >= 1
    client.delete(f"/v1/models/forecast-lstm/sessions/{sid}")


def test_end_frees_and_unknown_is_404(client: httpx.Client) -> None:
    sid = _open(client, "sentiment-gru")
    before = client.get("/v1/sessions").json()["active"]
    r = client.delete(f"/v1/models/sentiment-gru/sessions/{sid}")
    assert r.status_code == 200 and r.json()["ended"] is True
    assert client.get("/v1/sessions").json()["active"] == before - 1
    assert _chunk(client, "sentiment-gru", sid, json={"text": "good"}).status_code == 404
    assert client.delete(f"/v1/models/sentiment-gru/sessions/{sid}").status_code == 404
    assert client.get("/v1/models/sentiment-gru/sessions/nope").status_code == 404
    sid = _open(client, "sentiment-gru")
    assert _chunk(client, "sentiment-gru", sid, json={"text": "good"}, params={"end": "true"}).json()["ended"]
    assert _chunk(client, "sentiment-gru", sid, json={"text": "good"}).status_code == 404
    assert client.post("/v1/models/nosuch-gru/sessions").status_code == 404


def test_bad_chunks_are_4xx_naming_the_field(client: httpx.Client) -> None:
    cases = [
        ("sentiment-gru", {"texts": ["a", "b"]}, "text"),
        ("sentiment-gru", {"text": ""}, "text"),
        ("forecast-gru", {"rows": [[1, 2, 3]]}, "rows"),
        ("forecast-gru", {"rows": []}, "rows"),
        ("forecast-gru", {"history": history(96)}, "rows"),
        ("keywords-gru", {"samples": [0.1] * 10, "sample_rate": 16000}, "sample_rate"),
    ]
    for model, body, field in cases:
        sid = _open(client, model)
        r = _chunk(client, model, sid, json=body)
        assert 400 <= r.status_code < 500 and r.json()["field"] == field, (model, body, r.text)
        assert _chunk(client, model, sid, content=b"{not json").status_code == 400
        client.delete(f"/v1/models/{model}/sessions/{sid}")


def _v2_sequence(
    client: triton.InferenceServerClient,
    model: str,
    name: str,
    x: np.ndarray,
    sizes: list[int],
    seq: int | str,
    out: str,
) -> np.ndarray:
    dtype = "INT64" if x.dtype == np.int64 else "FP32"
    bounds = np.cumsum([0, *sizes])
    result = None
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        inp = triton.InferInput(name, [1, int(b - a), *x.shape[2:]], dtype)
        inp.set_data_from_numpy(np.ascontiguousarray(x[:, a:b]), binary_data=i % 2 == 0)
        result = client.infer(model, [inp], sequence_id=seq, sequence_start=i == 0, sequence_end=i == len(sizes) - 1)
    assert result is not None
    return result.as_numpy(out)


@pytest.mark.parametrize("cell", CELLS)
def test_v2_sequence_equals_one_shot(server: Server, client: httpx.Client, cell: str) -> None:
    tc = triton.InferenceServerClient(server.url.removeprefix("http://"))
    rng = np.random.default_rng(1)
    cases = [
        ("sentiment", "tokens", rng.integers(2, 30, (1, 12)).astype(np.int64), "logits"),
        ("keywords", "features", rng.normal(0, 1, (1, 98, 40)).astype(np.float32), "logits"),
        ("forecast", "history", rng.normal(0, 1, (1, 96, 7)).astype(np.float32), "forecast"),
    ]
    for k, (task, name, x, out) in enumerate(cases):
        model = f"{task}-{cell}"
        seq = 1000 + k if k % 2 else f"seq-{cell}-{k}"
        streamed = _v2_sequence(tc, f"{model}-stream", name, x, [1, 4, x.shape[1] - 5], seq, out)
        inp = triton.InferInput(name, list(x.shape), "INT64" if task == "sentiment" else "FP32")
        inp.set_data_from_numpy(x)
        one_shot = tc.infer(model, [inp]).as_numpy(out)
        np.testing.assert_allclose(streamed, one_shot, atol=1e-5)
        # the sequence ended with sequence_end: continuing it is Triton's 400
        body = {
            "parameters": {"sequence_id": seq},
            "inputs": [
                {
                    "name": name,
                    "shape": [1, 1, *x.shape[2:]],
                    "datatype": "INT64" if task == "sentiment" else "FP32",
                    "data": x[:, :1].ravel().tolist(),
                }
            ],
        }
        r = client.post(f"/v2/models/{model}-stream/infer", json=body)
        assert r.status_code == 400 and r.json()["field"] == "parameters.sequence_id"
    tc.close()


def test_v2_stateful_variant_is_its_own_model(client: httpx.Client) -> None:
    """One scheduler per model, as in Triton: the plain model batches, ``-stream`` sequences."""
    cfg = client.get("/v2/models/keywords-lstm-stream/config").json()
    states = cfg["sequence_batching"]["state"]
    assert [s["input_name"] for s in states] == ["h_in", "c_in"]
    assert cfg["sequence_batching"]["max_sequence_idle_microseconds"] > 0 and "dynamic_batching" not in cfg
    assert cfg["input"][0]["dims"] == [-1, 40] and cfg["max_batch_size"] == 1
    plain = client.get("/v2/models/keywords-lstm/config").json()
    assert "sequence_batching" not in plain and plain["input"][0]["dims"] == [98, 40]
    meta = client.get("/v2/models/keywords-lstm-stream").json()
    assert meta["state"] == "READY" and meta["inputs"][0]["shape"] == [-1, -1, 40]
    x = {"name": "history", "shape": [1, 2, 7], "datatype": "FP32", "data": [0.0] * 14}
    stateless = client.post(
        "/v2/models/forecast-gru/infer", json={"parameters": {"sequence_id": 4, "sequence_start": True}, "inputs": [x]}
    )
    assert stateless.status_code == 400 and "forecast-gru-stream" in stateless.json()["rule"]
    no_id = client.post("/v2/models/forecast-gru-stream/infer", json={"inputs": [x]})
    assert no_id.status_code == 400 and no_id.json()["field"] == "parameters.sequence_id"
    names = [s["name"] for s in client.get("/v2/models/stats").json()["model_stats"]]
    assert "forecast-gru" in names and "forecast-gru-stream" in names


def test_v2_sequence_bad_parameters(client: httpx.Client) -> None:
    x = {"name": "history", "shape": [1, 2, 7], "datatype": "FP32", "data": [0.0] * 14}
    for params, field in (
        ({"sequence_id": 5, "sequence_start": "yes"}, "parameters.sequence_start"),
        ({"sequence_id": [1]}, "parameters.sequence_id"),
    ):
        r = client.post("/v2/models/forecast-gru-stream/infer", json={"parameters": params, "inputs": [x]})
        assert r.status_code == 400 and r.json()["field"] == field
    two_rows = {**x, "shape": [2, 1, 7]}
    r = client.post(
        "/v2/models/forecast-gru-stream/infer",
        json={"parameters": {"sequence_id": 9, "sequence_start": True}, "inputs": [two_rows]},
    )
    assert r.status_code == 400


#: the limited server's idle timeout: long enough that a busy machine cannot starve the kept session
IDLE_S = 1.2


@pytest.fixture()
def limited(tiny_repo: Path, tmp_path: Path) -> Iterator[httpx.Client]:
    env = {
        "RNN_SERVE_STREAM_MAX_SESSIONS": "2",
        "RNN_SERVE_STREAM_IDLE_TIMEOUT_S": str(IDLE_S),
        "RNN_SERVE_STREAM_REAP_INTERVAL_S": "0.1",
    }
    with run_server(tiny_repo, env=env, log_dir=tmp_path) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        yield c


def test_limit_503_at_once_then_recovers_and_idle_expiry(limited: httpx.Client) -> None:
    a, b = _open(limited, "forecast-gru"), _open(limited, "sentiment-lstm")
    started = time.perf_counter()
    r = limited.post("/v1/models/forecast-gru/sessions")
    assert r.status_code == 503 and time.perf_counter() - started < 0.5
    assert int(r.headers["Retry-After"]) >= 1 and r.json()["field"] == "session"
    seq = {
        "parameters": {"sequence_id": 77, "sequence_start": True},
        "inputs": [{"name": "history", "shape": [1, 1, 7], "datatype": "FP32", "data": [0.0] * 7}],
    }
    assert limited.post("/v2/models/forecast-gru-stream/infer", json=seq).status_code == 503
    assert limited.delete(f"/v1/models/forecast-gru/sessions/{a}").status_code == 200
    c = _open(limited, "forecast-gru")  # a slot is free again
    # keep c busy (a chunk every IDLE_S / 6), let b go idle: b expires, c does not
    deadline = time.monotonic() + 10 * IDLE_S
    while limited.get("/v1/sessions").json()["expired_total"] == 0:
        assert time.monotonic() < deadline, "b never expired"
        time.sleep(IDLE_S / 6)
        assert _chunk(limited, "forecast-gru", c, json={"rows": history(1)}).status_code == 200
    overview = limited.get("/v1/sessions").json()
    assert overview["active"] == 1 and overview["expired_total"] == 1 and overview["rejected_total"] == 2
    assert limited.get(f"/v1/models/sentiment-lstm/sessions/{b}").status_code == 404
    _open(limited, "keywords-gru")
    deadline = time.monotonic() + 10 * IDLE_S
    while limited.get("/v1/sessions").json()["active"]:  # swept without any access
        assert time.monotonic() < deadline, "idle sessions were never swept"
        time.sleep(0.05)


def test_broken_step_model_disables_streaming_only(tiny_repo: Path, tmp_path: Path) -> None:
    """A step model whose sha256 does not match: that model cannot stream, everything else works."""
    import shutil

    repo = tmp_path / "models"
    shutil.copytree(tiny_repo, repo)
    with open(repo / "forecast-gru" / "model_step.onnx", "ab") as fh:
        fh.write(b"tampered")
    with (
        run_server(repo, log_dir=tmp_path, ready_path="/v2/health/ready") as srv,
        httpx.Client(base_url=srv.url, timeout=10) as c,
    ):
        overview = c.get("/v1/sessions").json()
        assert "sha256" in overview["unavailable"]["forecast-gru"] and "forecast-gru" not in overview["models"]
        r = c.post("/v1/models/forecast-gru/sessions")
        assert r.status_code == 400 and r.json()["field"] == "model"
        assert c.post("/v1/models/forecast-gru/predict", json={"history": history(96)}).status_code == 200
        assert c.post("/v1/models/forecast-lstm/sessions").status_code == 201
