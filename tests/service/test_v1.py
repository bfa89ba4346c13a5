"""The task-level API against a real server: every task, every input form, timing, request ids."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.service.conftest import history, tone, wav_bytes

PHASES = ("queue_ms", "preprocess_ms", "inference_ms", "postprocess_ms", "total_ms")


def check_timing(resp: httpx.Response, timing: dict[str, float]) -> None:
    assert set(timing) - {"batch_size"} == set(PHASES)  # batch_size: when the request ran a model
    assert all(v >= 0 for v in timing.values())
    assert sum(timing[p] for p in PHASES[:-1]) <= timing["total_ms"] + 0.004  # rounding to µs
    parts = [part.strip() for part in resp.headers["server-timing"].split(",")]
    if "batch_size" in timing:
        assert timing["batch_size"] >= 1 and parts.pop() == f'batch;desc="size={timing["batch_size"]}"'
    header = dict((part.split(";dur=")[0], float(part.split(";dur=")[1])) for part in parts)
    assert list(header) == [p.removesuffix("_ms") for p in PHASES]
    for phase in PHASES:
        assert header[phase.removesuffix("_ms")] == pytest.approx(timing[phase], abs=0.0011)


def test_list_models(client: httpx.Client) -> None:
    models = client.get("/v1/models").json()["models"]
    assert {m["name"] for m in models} == {
        f"{t}-{c}" for t in ("sentiment", "keywords", "forecast") for c in ("lstm", "gru")
    }
    for m in models:
        assert m["ready"] is True and m["error"] is None
        assert m["inputs"] and m["outputs"] and len(m["onnx_sha256"]) == 64
    assert client.get("/v1/models/keywords-gru").json()["labels"][3] == "three"


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_sentiment(client: httpx.Client, cell: str) -> None:
    resp = client.post(f"/v1/models/sentiment-{cell}/predict", json={"text": "A great movie, not boring!"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["model"] == f"sentiment-{cell}"
    (pred,) = body["predictions"]
    assert pred["label"] in ("negative", "positive")
    assert pred["probability"] == pytest.approx(max(pred["probabilities"].values()))
    assert sum(pred["probabilities"].values()) == pytest.approx(1.0)
    check_timing(resp, body["timing"])
    batch = client.post(f"/v1/models/sentiment-{cell}/predict", json={"texts": ["A great movie, not boring!", "awful"]})
    preds = batch.json()["predictions"]
    assert len(preds) == 2
    assert preds[0]["probabilities"]["positive"] == pytest.approx(pred["probabilities"]["positive"], abs=1e-6)


def test_keywords_every_input_form(client: httpx.Client) -> None:
    samples = tone(6000)
    wav = wav_bytes(samples)
    as_wav = client.post("/v1/models/keywords-lstm/predict", content=wav, headers={"content-type": "audio/wav"})
    as_b64 = client.post("/v1/models/keywords-lstm/predict", json={"audio_base64": base64.b64encode(wav).decode()})
    pcm = (samples * 32767).astype("<i2") / 32768.0
    as_samples = client.post("/v1/models/keywords-lstm/predict", json={"samples": pcm.tolist(), "sample_rate": 8000})
    answers = []
    for resp in (as_wav, as_b64, as_samples):
        assert resp.status_code == 200, resp.text
        (pred,) = resp.json()["predictions"]
        assert (
            pred["label"]
            == ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"][pred["digit"]]
        )
        assert len(pred["probabilities"]) == 10
        check_timing(resp, resp.json()["timing"])
        answers.append(pred["probabilities"])
    for other in answers[1:]:
        for label, p in answers[0].items():
            assert other[label] == pytest.approx(p, abs=1e-5)


def test_forecast(client: httpx.Client) -> None:
    resp = client.post("/v1/models/forecast-gru/predict", json={"history": history()})
    assert resp.status_code == 200, resp.text
    (pred,) = resp.json()["predictions"]
    assert len(pred["forecast"]) == 96 and pred["unit"] == "°C"
    check_timing(resp, resp.json()["timing"])


@pytest.mark.parametrize(
    ("task", "body"),
    [
        ("sentiment", {"text": "the best film"}),
        ("forecast", {"history": history()}),
        ("keywords", {"samples": tone(4000).tolist(), "sample_rate": 8000}),
    ],
)
def test_compare(client: httpx.Client, task: str, body: dict) -> None:
    resp = client.post(f"/v1/compare/{task}", json=body)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["task"] == task and list(out["results"]) == [f"{task}-lstm", f"{task}-gru"]
    for name, result in out["results"].items():
        assert result["model"] == name and len(result["predictions"]) == 1
        single = client.post(f"/v1/models/{name}/predict", json=body).json()
        assert result["predictions"] == single["predictions"]
        assert result["timing"]["inference_ms"] > 0
    check_timing(resp, out["timing"])


def test_request_id_echoed_or_generated(client: httpx.Client) -> None:
    echoed = client.post("/v1/models/sentiment-gru/predict", json={"text": "fun"}, headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = {client.get("/v2/health/live").headers["x-request-id"] for _ in range(3)}
    assert len(generated) == 3 and all(len(g) == 32 for g in generated)


def test_concurrent_requests_all_answer_the_same(client: httpx.Client) -> None:
    """32 requests at once on one model: all succeed with identical answers (runs are serialised
    on the model's thread, so later ones report queue time instead of failing)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(_: int) -> httpx.Response:
        return client.post(
            "/v1/models/keywords-lstm/predict", json={"samples": tone(8000).tolist(), "sample_rate": 8000}
        )

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(one, range(32)))
    assert all(r.status_code == 200 for r in responses)
    first = responses[0].json()["predictions"]
    assert all(r.json()["predictions"] == first for r in responses)
