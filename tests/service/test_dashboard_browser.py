"""The dashboard in a real headless Chromium (tests/browser.py): it loads without a JavaScript
error, requests nothing but its own server, shows every model with the server's live latency
numbers, and the compare form round-trips for each task (text, an uploaded WAV, a forecast
window); the trade-off charts draw results.json, sweep included, and its absence is said."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from loadtest.servers import Server
from tests.browser import CHROMIUM, Page, chromium
from tests.service.conftest import history, synthetic_results, tone, wav_bytes

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed and could not be: `make test` installs the Debian package "
    "`chromium` with apt-get when run as root on Debian",
)

PLAIN = ["forecast-gru", "forecast-lstm", "keywords-gru", "keywords-lstm", "sentiment-gru", "sentiment-lstm"]
ROWS = """[...document.querySelectorAll('#models tbody tr')].map((tr) => ({model: tr.dataset.model,
  count: tr.querySelector('[data-field=count]').textContent, rps: tr.querySelector('[data-field=rps]').textContent,
  p50: tr.querySelector('[data-field=p50]').textContent, p99: tr.querySelector('[data-field=p99]').textContent}))"""
CARDS = """[...document.querySelectorAll('#compare-results .card')].map((c) => ({model: c.dataset.model,
  answer: c.querySelector('[data-field=answer]').textContent, total: c.querySelector('[data-field=total_ms]').textContent}))"""


def _traffic(client: httpx.Client, rounds: int = 3) -> None:
    bodies: dict[str, Any] = {
        "sentiment": {"text": "a fine film"},
        "forecast": {"history": history()},
        "keywords": {"samples": tone(4000).tolist(), "sample_rate": 8000},
    }
    for _ in range(rounds):
        for name in PLAIN:
            assert client.post(f"/v1/models/{name}/predict", json=bodies[name.split("-")[0]]).status_code == 200


def _choose_task(page: Page, task: str) -> None:
    page.evaluate(
        f"(() => {{ const s = document.getElementById('compare-task'); s.value = {json.dumps(task)};"
        " s.dispatchEvent(new Event('change')); })()"
    )


def _compare(page: Page, task: str) -> list[dict[str, str]]:
    """Submit the form; the two cards of ``task`` once they are there."""
    page.evaluate("document.getElementById('compare-run').click()")
    expr = f"(() => {{ const c = {CARDS}; return c.length === 2 && c.every((x) => x.model.startsWith('{task}-')) ? c : null; }})()"
    cards: list[dict[str, str]] = page.wait_for(expr)
    assert sorted(c["model"] for c in cards) == [f"{task}-gru", f"{task}-lstm"]
    for card in cards:
        assert card["answer"] and float(card["total"]) > 0, card
    return cards


def test_dashboard_in_a_real_browser(
    dash_server: Server, dash_client: httpx.Client, server: Server, tmp_path: Path
) -> None:
    started = time.monotonic()
    _traffic(dash_client)
    with chromium() as page:
        page.goto(dash_server.url + "/")  # the front door is the dashboard
        assert page.evaluate("document.title") == "rnn-serve dashboard"

        # every model, with the p50/p99 the server reports (no traffic since: the numbers are stable)
        rows = page.wait_for(
            f"(() => {{ const r = {ROWS}; return r.length >= 6 && r.every((x) => /^[0-9]/.test(x.p99)) ? r : null; }})()"
        )
        assert [r["model"] for r in rows] == PLAIN
        served = {m["model"]: m for m in dash_client.get("/v1/latency").json()["models"]}
        for row in rows:
            assert row["p50"] == f"{served[row['model']]['p50_ms']:.3f}", (row, served[row["model"]])
            assert row["p99"] == f"{served[row['model']]['p99_ms']:.3f}" and int(row["count"]) >= 3

        # live: traffic while the page watches shows up as throughput
        for _ in range(20):
            dash_client.post("/v1/models/sentiment-gru/predict", json={"text": "good"})
        page.wait_for(f"{ROWS}.some((r) => r.model === 'sentiment-gru' && parseFloat(r.rps) > 0)")
        assert page.evaluate("document.querySelectorAll('#chart-p99 path').length") >= 6

        # the compare form, one input form per task
        _choose_task(page, "sentiment")
        page.type_into("#text", "A gripping, beautifully acted film.")
        assert {c["answer"].split(" ")[0] for c in _compare(page, "sentiment")} <= {"negative", "positive"}

        wav = tmp_path / "tone.wav"
        wav.write_bytes(wav_bytes(tone(6000)))
        _choose_task(page, "keywords")
        page.set_files("#wav", [wav])
        _compare(page, "keywords")

        _choose_task(page, "forecast")
        page.evaluate("document.getElementById('forecast-window').value = '2'")
        cards = _compare(page, "forecast")
        assert all(c["answer"].startswith("next ") for c in cards)
        assert not page.evaluate("document.getElementById('compare-figure').hidden")
        assert page.evaluate("document.querySelectorAll('#compare-chart path').length") == 3  # observed + 2 forecasts

        # a bad input is the server's 4xx message, as text
        page.type_into("#rows", "1,2,3")
        page.evaluate("document.getElementById('compare-run').click()")
        error = page.wait_for(
            "(() => { const e = document.getElementById('compare-error'); return !e.hidden && e.textContent; })()"
        )
        assert error.startswith("422: history")

        # accuracy vs latency from results.json: a chart per task; the sweep's records as dots
        page.wait_for("document.querySelectorAll('#tradeoff-charts figure').length === 3")
        assert page.evaluate("document.querySelectorAll('#results-table tbody tr').length") == 6
        sweep = len(synthetic_results()["sweeps"]["size"])
        dots = page.evaluate("document.querySelectorAll('#tradeoff-charts figure[data-task=sentiment] circle').length")
        assert dots == 2 + sweep
        assert f"{sweep} size-sweep records" in page.evaluate("document.getElementById('results-note').textContent")

        # a repository without results.json: said, not broken
        page.goto(server.url + "/dashboard")
        page.wait_for("document.getElementById('results-note').textContent.includes('no results.json')")
        page.wait_for(f"{ROWS}.length >= 6")

        assert page.errors == [], page.errors
        assert page.statuses == ["422 (Unprocessable Entity)", "404 (Not Found)"]  # the two asked for above
        own = (dash_server.url + "/", server.url + "/")
        assert page.requests and all(url.startswith(own) for url in page.requests), page.requests
    assert time.monotonic() - started < 60
