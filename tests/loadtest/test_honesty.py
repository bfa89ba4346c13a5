"""The load tester proves its own honesty: the cases where a dishonest one would look better.

* The client is the bottleneck (one connection, a server that takes 50 ms, 40 requests/s offered):
  requests wait for the connection, so latency from the *intended* send grows with the backlog
  and the send lag says why; a client that timed from its actual send would report ~50 ms.
* The A/B confidence interval has width on noisy data and covers the true ratio of a synthetic
  case whose answer is known.
* ``rnn-serve loadtest`` exits non-zero when requests fail.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from loadtest import LoadTestConfig, run
from loadtest.cli import main
from loadtest.recorder import Segment
from loadtest.stats import ratio_ci

SERVICE_MS = 50.0


def test_open_loop_latency_grows_with_the_clients_own_backlog(stall_server: Callable[..., str]) -> None:
    url = stall_server("--delay-ms", f"sentiment-gru={SERVICE_MS:g}")
    doc = run(
        LoadTestConfig(
            url=url, models=["sentiment-gru"], rate=40, duration=1.5, warmup=0, rounds=1, max_connections=1, quiet=True
        )
    )
    m = doc["models"]["sentiment-gru"]
    assert m["errors"] == 0 and m["requests_ok"] == 60
    # One connection serves at most 1000 / 50 = 20 requests/s of the 40 offered: by the last request
    # the backlog is ~30 requests, i.e. ~1.5 s of waiting, all of it after the intended send.
    assert m["p99_ms"] > 15 * SERVICE_MS, m
    assert m["p50_ms"] > 5 * SERVICE_MS, m
    # ... while each request, once on the wire, took about the service time
    assert m["client_service_mean_ms"] < 3 * SERVICE_MS, m
    # and the send lag shows the client fell behind
    assert m["send_lag_p99_ms"] > 10 * SERVICE_MS and m["late_requests"] > 40 and m["client_behind"], m


def _rounds(rng: np.random.Generator, scale: float, n_rounds: int = 8, per_round: int = 300) -> list[Segment]:
    """Rounds of lognormal latencies (median 10 ms × ``scale``) whose level drifts from round to
    round, as a shared machine's does: the noise a CI over rounds must show."""
    out = []
    for r in range(n_rounds):
        seg = Segment(model="m", round=r, offered_rps=10, mode="open", duration_s=1.0, elapsed_s=1.0)
        drift = rng.lognormal(0.0, 0.15)
        for ms in scale * drift * rng.lognormal(np.log(10.0), 0.4, per_round):
            seg.record_ok(ms / 1000, ms / 1000, None)
        out.append(seg)
    return out


def test_interval_has_width_on_noisy_data_and_covers_a_known_ratio() -> None:
    covered = 0
    for seed in range(10):
        rng = np.random.default_rng(seed)
        base, cand = _rounds(rng, 1.0), _rounds(rng, 0.8)  # the true ratio of every percentile is 0.8
        p50 = ratio_ci(base, cand, stats=("p50_ms",), resamples=400, seed=seed)["p50_ms"]
        low, high = p50["ci_low"], p50["ci_high"]
        assert low is not None and high is not None
        assert low < p50["ratio"] < high and high - low > 0.03, p50  # noisy rounds: a real width
        covered += low <= 0.8 <= high
    assert covered >= 8  # a 95 % interval covers the true ratio in (nearly) every case


def test_cli_exits_non_zero_when_requests_fail(stall_server: Callable[..., str], tmp_path: Path) -> None:
    url = stall_server()
    rc = main(
        [
            "--url",
            url,
            "--models",
            "sentiment-missing",
            "--rate",
            "20",
            "--duration",
            "1",
            "--rounds",
            "1",
            "--warmup",
            "0",
            "--output",
            str(tmp_path / "out"),
            "--quiet",
        ]
    )
    assert rc != 0
