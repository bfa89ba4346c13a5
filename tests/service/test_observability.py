"""Statistics (Triton extension) and Prometheus metrics move with traffic."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from loadtest.servers import run_server
from tests.service.conftest import STREAMING, history
from tests.service.tiny_models import build_tiny_repository


def _stats(client: httpx.Client, name: str) -> dict:
    (stats,) = client.get(f"/v2/models/{name}/stats").json()["model_stats"]
    return stats


def _metric(text: str, name: str, **labels: str) -> float:
    """Value of one sample line of the Prometheus text format."""
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            got = dict(re.findall(r'(\w+)="([^"]*)"', line.rsplit(" ", 1)[0]))
            if all(got.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_stats_count_successes_and_failures(client: httpx.Client) -> None:
    before = _stats(client, "forecast-lstm")
    for _ in range(3):
        assert client.post("/v1/models/forecast-lstm/predict", json={"history": history()}).status_code == 200
    assert client.post("/v1/models/forecast-lstm/predict", json={"history": [[1.0] * 7]}).status_code == 422
    after = _stats(client, "forecast-lstm")
    inf_b, inf_a = before["inference_stats"], after["inference_stats"]
    for key in ("success", "queue", "compute_input", "compute_infer", "compute_output"):
        assert inf_a[key]["count"] == inf_b[key]["count"] + 3
        # a lone request on an idle model runs inline (service/runtime/activity.py): it queued for 0 ns
        assert inf_a[key]["ns"] >= inf_b[key]["ns"] if key == "queue" else inf_a[key]["ns"] > inf_b[key]["ns"]
    assert inf_a["fail"]["count"] == inf_b["fail"]["count"] + 1
    assert after["inference_count"] == before["inference_count"] + 3
    assert after["execution_count"] == before["execution_count"] + 3
    assert after["last_inference"] >= before["last_inference"] > 0 or before["inference_count"] == 0
    everyone = [s["name"] for s in client.get("/v2/models/stats").json()["model_stats"]]
    streams = 6 if STREAMING else 0  # the stateful variants, served by a one-worker server
    assert len(everyone) == 6 + streams and sum(n.endswith("-stream") for n in everyone) == streams


def test_prometheus_moves_with_traffic(client: httpx.Client) -> None:
    before = client.get("/metrics").text
    for _ in range(4):
        client.post("/v1/models/sentiment-lstm/predict", json={"text": "great fun"})
    client.post("/v1/models/sentiment-lstm/predict", json={"text": ""})
    client.post("/v1/models/random-junk-name/predict", json={"text": "x"})
    after = client.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text
    route = "/v1/models/{name}/predict"
    for status, n in (("200", 4), ("422", 1)):
        delta = _metric(text, "rnn_serve_requests_total", model="sentiment-lstm", route=route, status=status) - _metric(
            before, "rnn_serve_requests_total", model="sentiment-lstm", route=route, status=status
        )
        assert delta == n
    assert _metric(text, "rnn_serve_requests_total", model="unknown", status="404") >= 1
    assert "random-junk-name" not in text
    for phase in ("queue", "preprocess", "inference", "postprocess", "total"):
        count = _metric(text, "rnn_serve_latency_seconds_count", model="sentiment-lstm", phase=phase)
        assert count - _metric(before, "rnn_serve_latency_seconds_count", model="sentiment-lstm", phase=phase) == 4
    assert 'le="5e-05"' in text and 'le="10.0"' in text
    assert "rnn_serve_requests_in_flight" in text


def test_latency_series_exist_before_the_first_request(tmp_path: Path) -> None:
    """A Prometheus ``rate()`` over the first requests needs each series scraped once before them."""
    repo = build_tiny_repository(tmp_path / "models", names=("forecast-gru", "sentiment-lstm"))
    with run_server(repo, ready_path="/v2/health/ready") as srv:
        text = httpx.get(f"{srv.url}/metrics").text
    for model in ("forecast-gru", "sentiment-lstm"):
        for phase in ("queue", "preprocess", "inference", "postprocess", "total"):
            assert f'rnn_serve_latency_seconds_count{{model="{model}",phase="{phase}"}} 0.0' in text


def _bucket_counts(text: str, model: str, phase: str) -> dict[float, float]:
    pattern = rf'rnn_serve_latency_seconds_bucket{{le="([^"]+)",model="{model}",phase="{phase}"}} (\S+)'
    return {float(le): float(v) for le, v in re.findall(pattern, text)}


def test_prometheus_values_agree_with_the_answers(client: httpx.Client) -> None:
    """The histogram's sum is the bodies' ``total_ms`` in seconds, and every answer sits in its bucket."""
    before = client.get("/metrics").text
    totals = []
    for i in range(12):
        resp = client.post("/v1/models/forecast-gru/predict", json={"history": history(seed=i)})
        assert resp.status_code == 200
        totals.append(resp.json()["timing"]["total_ms"] / 1000)
    after = client.get("/metrics").text
    labels = {"model": "forecast-gru", "phase": "total"}
    count = _metric(after, "rnn_serve_latency_seconds_count", **labels) - _metric(
        before, "rnn_serve_latency_seconds_count", **labels
    )
    total = _metric(after, "rnn_serve_latency_seconds_sum", **labels) - _metric(
        before, "rnn_serve_latency_seconds_sum", **labels
    )
    assert count == 12
    # bodies round to the µs; seconds vs milliseconds would be off by a factor of 1000
    assert abs(total - sum(totals)) <= 12 * 1e-6, (total, sum(totals))
    b0, b1 = _bucket_counts(before, "forecast-gru", "total"), _bucket_counts(after, "forecast-gru", "total")
    bounds = sorted(b1)
    assert bounds[0] == 50e-6 and bounds[-1] == float("inf")
    deltas = [b1[le] - b0.get(le, 0.0) for le in bounds]
    assert deltas == sorted(deltas) and deltas[-1] == 12  # cumulative
    for le, delta in zip(bounds, deltas, strict=True):  # an answer within 1 µs of a bound may sit on either side
        assert sum(t <= le - 1e-6 for t in totals) <= delta <= sum(t <= le + 1e-6 for t in totals), (le, delta)
