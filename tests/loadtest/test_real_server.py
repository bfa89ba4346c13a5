"""The load tester against the REAL rnn-serve server (tiny model packages), V1 and V2."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from loadtest import LoadTestConfig, run
from loadtest.cli import main
from loadtest.workload import SHARED_DATA

PHASES = ("queue", "preprocess", "inference", "postprocess", "total")


def test_v1_ab_against_the_real_server(real_server: str, tmp_path: Path) -> None:
    out = tmp_path / "v1"
    rc = main(
        [
            "--url",
            real_server,
            "--models",
            "sentiment-lstm,sentiment-gru",
            "--rate",
            "40",
            "--duration",
            "2",
            "--rounds",
            "3",
            "--warmup",
            "0.5",
            "--output",
            str(out),
            "--quiet",
            "--seed",
            "3",
        ]
    )
    assert rc == 0
    doc = json.loads((out / "results.json").read_text())
    assert list(doc["models"]) == ["sentiment-lstm", "sentiment-gru"]
    for m in doc["models"].values():
        assert m["requests_sent"] == 240 and m["requests_ok"] == 240 and m["errors"] == 0
        assert 0 < m["p50_ms"] <= m["p90_ms"] <= m["p99_ms"] <= m["p999_ms"] <= m["max_ms"]
        st = m["server_timing_ms"]
        assert all(st[f"{p}_ms"] is not None and st[f"{p}_ms"] >= 0 for p in PHASES)
        # Server-side phases are part of what the client measured, never more.
        assert st["queue_ms"] + st["preprocess_ms"] + st["inference_ms"] + st["postprocess_ms"] <= st["total_ms"] + 0.01
        assert st["total_ms"] <= m["client_service_mean_ms"] <= m["client_mean_ms"] + 0.01
    ratios = doc["comparison"]["ratios"]
    for stat in ("p50_ms", "p90_ms", "p99_ms"):
        assert ratios[stat]["ci_low"] <= ratios[stat]["ratio"] <= ratios[stat]["ci_high"]
    with open(out / "rounds.csv", newline="") as fh:
        rounds = list(csv.DictReader(fh))
    assert len(rounds) == 6 and sum(int(r["requests_ok"]) for r in rounds) == 480
    wl = doc["metadata"]["workload"]
    assert wl["synthetic"] == (not (SHARED_DATA / "sentiment" / "sst2_glue" / "dev.tsv").is_file())


def test_v2_tensors_from_the_package(real_server: str, tiny_repository: Path) -> None:
    doc = run(
        LoadTestConfig(
            url=real_server,
            models=["keywords-gru", "forecast-lstm", "sentiment-gru"],
            endpoint="v2",
            model_repository=tiny_repository,
            rate=15,
            duration=1,
            warmup=0.2,
            rounds=1,
            quiet=True,
            max_payloads=50,
        )
    )
    for name, m in doc["models"].items():
        assert m["errors"] == 0 and m["requests_ok"] == 15, (name, m["error_kinds"])
        assert m["server_timing_ms"]["inference_ms"] is not None
    assert all(v.startswith("package") for v in doc["metadata"]["workload"]["v2_preprocessing_from"].values())


def test_v2_sentiment_without_the_vocabulary_is_refused(
    real_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(
        [
            "--url",
            real_server,
            "--models",
            "sentiment-gru",
            "--endpoint",
            "v2",
            "--model-repository",
            str(tmp_path),
            "--duration",
            "1",
            "--quiet",
        ]
    )
    assert rc == 2 and "--model-repository" in capsys.readouterr().err


def test_keywords_and_forecast_v1_bodies_with_poisson_arrivals(real_server: str) -> None:
    doc = run(
        LoadTestConfig(
            url=real_server,
            models=["keywords-lstm", "forecast-gru"],
            rate=30,
            duration=2,
            warmup=0,
            rounds=2,
            quiet=True,
            max_payloads=30,
            arrival="poisson",
            seed=5,
        )
    )
    for name, m in doc["models"].items():
        assert m["errors"] == 0 and m["requests_ok"] == m["requests_sent"], (name, m["error_kinds"])
        assert 30 * 2 * 2 * 0.6 < m["requests_sent"] < 30 * 2 * 2 * 1.4  # Poisson count varies around rate x time
