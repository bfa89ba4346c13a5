"""Unit tests of the pieces: URL rule, schedule, Server-Timing parsing, percentiles and CIs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from loadtest.cli import main
from loadtest.config import ConfigError, LoadTestConfig, check_target_url
from loadtest.recorder import Segment, parse_server_timing, to_us
from loadtest.schedule import intended_offsets
from loadtest.stats import bucket_values, counts_of, merge, percentile_from_counts, ratio_ci, summarise_latency


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "http://127.3.4.5:1", "http://localhost:8000/", "http://[::1]:8000"]
)
def test_loopback_urls_are_accepted(url: str) -> None:
    assert check_target_url(url) == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1:8000",
        "http://example.com",
        "http://8.8.8.8",
        "http://rnn-serve:8000",
        "ftp://127.0.0.1",
        "127.0.0.1:8000",
    ],
)
def test_non_loopback_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigError):
        check_target_url(url)


def test_allow_remote_admits_only_a_compose_service_name() -> None:
    assert check_target_url("http://rnn-serve:8000", allow_remote=True) == "http://rnn-serve:8000"
    for url in ("http://rnn-serve.example.com:8000", "http://10.1.2.3:8000", "http://93.184.216.34"):
        with pytest.raises(ConfigError):
            check_target_url(url, allow_remote=True)


def test_cli_refuses_a_remote_url_before_sending_anything(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", "http://192.0.2.1:8000", "--duration", "1"]) == 2
    assert "only loopback" in capsys.readouterr().err


def test_config_rejects_bad_settings() -> None:
    with pytest.raises(ConfigError):
        LoadTestConfig(models=["a", "a"]).validate()
    with pytest.raises(ConfigError):
        LoadTestConfig(mode="closed", sweep=True).validate()
    with pytest.raises(ConfigError):
        LoadTestConfig(duration=0).validate()
    assert LoadTestConfig(rate_start=10, rate_step=20, rate_max=70).sweep_rates() == [10, 30, 50, 70]


def test_constant_schedule_is_exact_and_poisson_is_seeded() -> None:
    const = intended_offsets(50, 4, "constant", 0)
    assert len(const) == 200 and np.allclose(np.diff(const), 0.02)
    a, b = intended_offsets(200, 20, "poisson", 7), intended_offsets(200, 20, "poisson", 7)
    assert np.array_equal(a, b) and np.all(np.diff(a) >= 0) and a[-1] < 20
    assert abs(len(a) - 4000) < 5 * np.sqrt(4000)
    gaps = np.diff(a)
    assert abs(gaps.std() / gaps.mean() - 1) < 0.1  # exponential gaps: coefficient of variation 1


def test_server_timing_parsing() -> None:
    parsed = parse_server_timing(
        'queue;dur=0.012, preprocess;dur=0.105, inference;desc="ort";dur=0.640, cache, total;dur=0.850, inference;dur=1'
    )
    assert parsed == pytest.approx({"queue": 0.012, "preprocess": 0.105, "inference": 1.64, "total": 0.85})
    assert parse_server_timing(None) == {} and parse_server_timing("garbage;;") == {}


def _segment(latencies_ms: list[float], rnd: int = 0) -> Segment:
    seg = Segment(model="m", round=rnd, offered_rps=10, mode="open", duration_s=1.0, elapsed_s=1.0)
    for ms in latencies_ms:
        seg.record_ok(ms / 1000, ms / 1000, None)
    return seg


def test_percentiles_come_from_merged_counts_like_hdrhistogram() -> None:
    rng = np.random.default_rng(1)
    segs = [_segment(list(rng.lognormal(1, 1, 500)), r) for r in range(3)]
    merged = merge([s.latency for s in segs])
    assert merged.get_total_count() == 1500
    for p in (50, 90, 99, 99.9):
        assert percentile_from_counts(counts_of(merged), bucket_values(), p) == merged.get_value_at_percentile(p)
    summary = summarise_latency(merged)
    assert summary["p50_ms"] <= summary["p90_ms"] <= summary["p99_ms"] <= summary["max_ms"]


def test_ratio_ci_brackets_the_point_estimate() -> None:
    rng = np.random.default_rng(2)
    base = [_segment(list(2 + rng.exponential(1, 400)), r) for r in range(5)]
    cand = [_segment(list(1 + rng.exponential(0.5, 400)), r) for r in range(5)]
    ratios = ratio_ci(base, cand, resamples=500)
    p50 = ratios["p50_ms"]
    assert p50["ci_low"] <= p50["ratio"] <= p50["ci_high"]
    assert 0.4 < p50["ratio"] < 0.6
    single = ratio_ci(base[:1], cand[:1], resamples=100)
    assert single["p99_ms"]["ci_low"] is None  # one round cannot give a CI


def test_send_lag_and_late_counting() -> None:
    seg = Segment(model="m", round=0, offered_rps=10, mode="open", duration_s=1.0)
    for lag in (0.001, 0.002, 0.050, -0.0001):
        seg.record_send(lag, late_threshold_s=0.010)
    assert seg.sent == 4 and seg.late == 1
    assert to_us(-1) == 1 and to_us(0.0015) == 1500


def test_unknown_data_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        [
            "--url",
            "http://127.0.0.1:9",
            "--models",
            "sentiment-gru",
            "--data",
            str(tmp_path / "no.tsv"),
            "--duration",
            "1",
            "--quiet",
        ]
    )
    assert rc == 2 and "no such file" in capsys.readouterr().err


def test_an_unreachable_server_fails_fast(capsys: pytest.CaptureFixture[str]) -> None:
    from loadtest.servers import free_port

    rc = main(["--url", f"http://127.0.0.1:{free_port()}", "--models", "forecast-gru", "--duration", "5", "--quiet"])
    assert rc == 2 and "cannot reach the server" in capsys.readouterr().err
