"""Against a server that freezes 300 ms every second: the open loop must show the stall, the
closed loop must not claim to (and says so), A/B and sweep outputs must be self-consistent."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest

from loadtest import LoadTestConfig, run
from loadtest.cli import main


def _load(out: Path) -> tuple[dict, list[dict]]:
    doc = json.loads((out / "results.json").read_text())
    with open(out / "results.csv", newline="") as fh:
        return doc, list(csv.DictReader(fh))


def test_open_loop_sees_the_stall_and_closed_loop_hides_it(stall_server: Callable[..., str], tmp_path: Path) -> None:
    url = stall_server("--stall-ms", "300", "--period-ms", "1000")
    common = dict(url=url, models=["sentiment-lstm"], duration=3.0, warmup=0.3, rounds=1, quiet=True)
    open_doc = run(LoadTestConfig(**common, mode="open", rate=50, output=tmp_path / "open"))
    closed_doc = run(LoadTestConfig(**common, mode="closed", concurrency=4, output=tmp_path / "closed"))
    o, c = open_doc["models"]["sentiment-lstm"], closed_doc["models"]["sentiment-lstm"]
    # Open loop: ~30 % of the time the server is frozen, so p90 and p99 are a good part of 300 ms.
    assert o["p99_ms"] > 200 and o["p90_ms"] > 50, o
    assert o["errors"] == 0 and o["requests_ok"] == 150
    # Closed loop: only the few requests in flight at a stall are slow, p99 stays small.
    assert c["p99_ms"] < 0.25 * o["p99_ms"], (c["p99_ms"], o["p99_ms"])
    assert c["max_ms"] > 200  # the stall did happen during the closed-loop run too
    assert closed_doc["mode"] == "closed" and "closed loop" in closed_doc["mode_label"]
    assert "coordinated omission" in closed_doc["latency_definition"]
    assert "INTENDED" in open_doc["latency_definition"]


def test_ab_run_through_the_cli_is_consistent(stall_server: Callable[..., str], tmp_path: Path) -> None:
    url = stall_server("--delay-ms", "sentiment-lstm=6", "--delay-ms", "sentiment-gru=1")
    out = tmp_path / "ab"
    rc = main(
        [
            "--url",
            url,
            "--models",
            "sentiment-lstm,sentiment-gru",
            "--rate",
            "40",
            "--duration",
            "2",
            "--rounds",
            "3",
            "--warmup",
            "0.3",
            "--output",
            str(out),
            "--quiet",
        ]
    )
    assert rc == 0
    doc, rows = _load(out)
    assert set(doc["models"]) == {"sentiment-lstm", "sentiment-gru"}
    for name, m in doc["models"].items():
        assert m["requests_sent"] == 40 * 2 * 3 and m["requests_ok"] == m["requests_sent"]  # constant rate: exact
        assert m["errors"] == 0 and len(m["rounds"]) == 3
        assert m["p50_ms"] <= m["p90_ms"] <= m["p99_ms"] <= m["p999_ms"] <= m["max_ms"]
        assert 40 * 0.85 <= m["throughput_rps"] <= 40 * 1.05
        st = m["server_timing_ms"]
        assert all(st[f"{p}_ms"] is not None for p in ("queue", "preprocess", "inference", "postprocess", "total"))
        assert st["total_ms"] <= m["client_mean_ms"]
    lstm, gru = doc["models"]["sentiment-lstm"], doc["models"]["sentiment-gru"]
    assert gru["server_timing_ms"]["total_ms"] < lstm["server_timing_ms"]["total_ms"]
    comp = doc["comparison"]
    assert comp["baseline"] == "sentiment-lstm" and comp["candidate"] == "sentiment-gru"
    for stat in ("p50_ms", "p99_ms", "throughput_rps"):
        r = comp["ratios"][stat]
        assert r["ci_low"] <= r["ratio"] <= r["ci_high"], (stat, r)
    assert comp["ratios"]["p50_ms"]["ratio"] == pytest.approx(gru["p50_ms"] / lstm["p50_ms"])
    assert comp["ratios"]["p50_ms"]["ci_high"] < 1.0  # GRU stand-in is clearly faster
    inference = comp["ratios"]["server_inference_ms"]
    assert inference["ratio"] == pytest.approx(
        gru["server_timing_ms"]["inference_ms"] / lstm["server_timing_ms"]["inference_ms"]
    )
    assert inference["ci_low"] <= inference["ratio"] <= inference["ci_high"] < 0.5
    # The CSV holds the same numbers as the JSON.
    assert [r["model"] for r in rows] == list(doc["models"])
    for row in rows:
        m = doc["models"][row["model"]]
        for key in ("p50_ms", "p99_ms", "throughput_rps"):
            assert float(row[key]) == pytest.approx(m[key])
        assert int(row["requests_ok"]) == m["requests_ok"] and int(row["errors"]) == m["errors"]
    assert (out / "latency_cdf.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = doc["metadata"]
    assert meta["versions"]["aiohttp"] and meta["settings"]["rounds"] == 3 and meta["machine"]["cpu_count"]


def test_sweep_finds_the_knee(stall_server: Callable[..., str], tmp_path: Path) -> None:
    url = stall_server("--busy-ms", "10")  # capacity ≈ 100 req/s
    out = tmp_path / "sweep"
    rc = main(
        [
            "--url",
            url,
            "--models",
            "forecast-gru",
            "--sweep",
            "--rates",
            "30,60,200,300",
            "--duration",
            "2",
            "--rounds",
            "1",
            "--warmup",
            "0.2",
            "--output",
            str(out),
            "--quiet",
        ]
    )
    assert rc == 0
    doc, rows = _load(out)
    sweep = doc["sweep"]
    # the knee is the first rate above capacity (≈ 100 req/s), the last below it is sustainable
    knee, sustainable = sweep["knee"]["offered_rps"], sweep["sustainable_rps"]
    assert sustainable < 100 < knee, sweep
    assert sweep["rates"][-1] == knee and 300 not in sweep["rates"]  # stops at the knee
    assert [float(r["offered_rps"]) for r in rows] == sweep["rates"]
    tput = {p["offered_rps"]: p["models"]["forecast-gru"]["throughput_rps"] for p in sweep["points"]}
    assert tput[knee] < 0.9 * knee and tput[sustainable] > 0.9 * sustainable
    assert (out / "latency_vs_throughput.png").stat().st_size > 1000


def test_failed_requests_are_counted_not_dropped(stall_server: Callable[..., str], tmp_path: Path) -> None:
    url = stall_server()
    doc = run(LoadTestConfig(url=url, models=["sentiment-nope"], rate=20, duration=1, warmup=0, rounds=1, quiet=True))
    m = doc["models"]["sentiment-nope"]
    assert m["requests_sent"] == 20 and m["errors"] == 20 and m["error_kinds"] == {"http_404": 20}
    assert m["requests_ok"] == 0 and math.isnan(m["p99_ms"])  # no success latency is invented


def test_timeouts_are_counted(stall_server: Callable[..., str]) -> None:
    url = stall_server("--stall-ms", "400", "--period-ms", "600")
    doc = run(
        LoadTestConfig(
            url=url, models=["forecast-lstm"], rate=20, duration=2, warmup=0, rounds=1, quiet=True, timeout_s=0.15
        )
    )
    m = doc["models"]["forecast-lstm"]
    assert m["error_kinds"].get("timeout", 0) > 0
    assert m["requests_ok"] + m["errors"] == m["requests_sent"] == 40
