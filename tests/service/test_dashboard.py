"""The dashboard page over HTTP (the browser test is test_dashboard_browser.py), and the two JSON
documents it reads: ``/v1/latency`` (recent percentiles) and ``/v1/results`` (results.json)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from importlib.resources import files
from pathlib import Path

import httpx
import numpy as np

from service.observability.recent import LatencyRing
from tests.service.conftest import LATENCY_WINDOW, STREAMING

PAGE = files("service.http").joinpath("static/dashboard.html").read_text(encoding="utf-8")


def test_front_door_and_dashboard_serve_the_page(client: httpx.Client) -> None:
    front, dash = client.get("/"), client.get("/dashboard")
    for resp in (front, dash):
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
        assert resp.text == PAGE and "<title>rnn-serve dashboard</title>" in resp.text
    # the front door links what a new user looks for
    for href in ("dashboard", "docs", "metrics", "openapi.json", "v1/models"):
        assert f'href="{href}"' in PAGE
    assert client.head("/").status_code == 200


def test_page_fetches_nothing_from_elsewhere_and_writes_no_markup() -> None:
    """Offline by construction: no URL with a scheme or a protocol-relative one anywhere in the
    file (the SVG namespace is read from the markup), no way to turn a string into markup or code,
    and no inline handlers or style attributes (the CSP would refuse them)."""
    assert "://" not in PAGE and not re.search(r"""(src|href)\s*=\s*["']//""", PAGE)
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in PAGE, sink
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", PAGE), "inline event handler"
    assert not re.search(r"<[^>]+\sstyle\s*=", PAGE), "inline style attribute"
    assert PAGE.count("<script>") == 1 and PAGE.count("<style>") == 1 and "<script src" not in PAGE
    ids = re.findall(r'\sid="([^"]+)"', PAGE)
    assert len(ids) == len(set(ids)), "duplicate element ids"


def test_csp_allows_exactly_the_inline_script_and_style(client: httpx.Client) -> None:
    csp = client.get("/dashboard").headers["content-security-policy"]
    for tag in ("script", "style"):
        body = re.search(rf"<{tag}>(.*?)</{tag}>", PAGE, re.S)
        assert body is not None
        digest = base64.b64encode(hashlib.sha256(body.group(1).encode()).digest()).decode()
        assert f"{tag}-src 'sha256-{digest}'" in csp
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp


def test_pages_stay_out_of_the_api_document(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths and "/dashboard" not in paths
    assert {"/v1/latency", "/v1/results"} <= set(paths)
    assert "404" in paths["/v1/results"]["get"]["responses"]


def test_ring_keeps_the_last_window_and_reports_percentiles() -> None:
    ring = LatencyRing("m", 4)
    assert ring.summary(0) == {"count": 0, "n": 0}
    for i, total in enumerate((9_000_000, 1_000_000, 2_000_000, 3_000_000, 4_000_000, 5_000_000)):
        ring.record(total, start_ns=(i + 1) * 1_000_000_000 - total)  # finished at i + 1 s
    out = ring.summary(now=7_000_000_000)
    assert out["count"] == 6 and out["n"] == 4  # 9 ms and 1 ms were overwritten
    assert out["p50_ms"] == float(np.percentile([2, 3, 4, 5], 50)) and out["max_ms"] == 5.0
    assert out["span_s"] == 3.0 and out["age_s"] == 1.0


def test_latency_percentiles_are_those_of_the_last_requests(dash_client: httpx.Client) -> None:
    before = {m["model"]: m for m in dash_client.get("/v1/latency").json()["models"]}
    totals = []
    for i in range(LATENCY_WINDOW + 4):
        resp = dash_client.post("/v1/models/sentiment-gru/predict", json={"text": f"a fine film {i}"})
        assert resp.status_code == 200
        totals.append(resp.json()["timing"]["total_ms"])
    dash_client.post("/v1/models/sentiment-gru/predict", json={"text": ""})  # a failure is not a latency
    body = dash_client.get("/v1/latency").json()
    assert body["window"] == LATENCY_WINDOW
    models = {m["model"]: m for m in body["models"]}
    assert {"sentiment-gru", "forecast-lstm", *(["sentiment-gru-stream"] if STREAMING else [])} <= set(models)
    gru = models["sentiment-gru"]
    assert gru["count"] == before["sentiment-gru"]["count"] + len(totals) and gru["n"] == LATENCY_WINDOW
    last = totals[-LATENCY_WINDOW:]  # the reported totals are rounded to the µs, like the ring's
    for key, q in (("p50_ms", 50), ("p90_ms", 90), ("p99_ms", 99)):
        assert abs(gru[key] - float(np.percentile(last, q))) <= 0.002, (key, gru, last)
    assert abs(gru["max_ms"] - max(last)) <= 0.001 and 0 <= gru["age_s"] < 5
    assert models["forecast-lstm"]["n"] == 0 or "p50_ms" in models["forecast-lstm"]


def test_compare_counts_in_both_models(dash_client: httpx.Client) -> None:
    def counts() -> dict[str, int]:
        return {m["model"]: m["count"] for m in dash_client.get("/v1/latency").json()["models"]}

    before = counts()
    assert dash_client.post("/v1/compare/sentiment", json={"text": "good"}).status_code == 200
    after = counts()
    assert after["sentiment-gru"] == before["sentiment-gru"] + 1
    assert after["sentiment-lstm"] == before["sentiment-lstm"] + 1


def test_results_are_the_repository_file(dash_client: httpx.Client, dash_repo: Path) -> None:
    resp = dash_client.get("/v1/results")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    assert resp.json() == json.loads((dash_repo / "results.json").read_text())


def test_results_absent_is_a_json_404(client: httpx.Client) -> None:
    resp = client.get("/v1/results")
    assert resp.status_code == 404
    assert resp.json() == {"error": "the model repository has no results.json", "field": "results"}
