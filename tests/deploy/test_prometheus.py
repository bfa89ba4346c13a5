"""A real Prometheus (the Debian package) on deploy/prometheus.yml, scraping a real server.

What the monitoring setup promises is checked end to end: the committed config loads, the scrape
sees every request, ``histogram_quantile(0.99, …)`` per model and phase lands in the bucket of the
latencies the server itself reported (``Server-Timing``), and every PromQL expression of the
Grafana dashboard (deploy/grafana/rnn-serve.json) is accepted by Prometheus, returns data and
names only metrics the service exports. ``make test`` installs Prometheus (``apt-get install
prometheus`` as root); where it cannot, these tests skip and say so.
"""

from __future__ import annotations

import bisect
import json
import math
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from loadtest.servers import Server, free_port, stop, wait_ready
from tests.deploy.conftest import DEPLOY

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
SKIP_REASON = (
    "prometheus is not installed and could not be: `make test` installs the Debian package "
    "`prometheus` with apt-get when run as root on Debian"
)
#: The server reports latencies with 1 µs resolution (Server-Timing), so a value within 1 µs of a
#: bucket bound may have been counted in either neighbouring bucket.
RESOLUTION_S = 1e-6
PHASES = ("queue", "preprocess", "inference", "postprocess", "total")
REQUESTS_PER_MODEL = 40
QUANTILE = 0.99
#: Over the whole run rather than a rate() window: the counts since the server started are exactly
#: the requests the test sent, so the quantile can be compared with their reported latencies.
P99_QUERY = f"histogram_quantile({QUANTILE}, sum by (model, phase, le) (rnn_serve_latency_seconds_bucket))"
DASHBOARD = DEPLOY / "grafana" / "rnn-serve.json"
#: What Grafana puts in for its variables when the dashboard shows everything.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$model": ".+", "$phase": ".+"}

pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason=SKIP_REASON)


def _body(model: str) -> dict[str, Any]:
    """A small valid task-level request for ``model``."""
    task = model.split("-", maxsplit=1)[0]
    if task == "sentiment":
        return {"texts": ["a wonderful , moving film"]}
    if task == "keywords":
        return {"samples": [0.3 * math.sin(2 * math.pi * 440 * i / 8000) for i in range(1600)], "sample_rate": 8000}
    return {"history": [[10 + math.sin(2 * math.pi * h / 24 + k) for k in range(7)] for h in range(96)]}


def _server_timing(header: str) -> dict[str, float]:
    """``queue;dur=0.012, …, total;dur=0.850, batch;desc=…`` → phase → seconds."""
    found = dict(re.findall(r"(\w+);dur=([0-9.]+)", header))
    return {phase: float(found[phase]) / 1e3 for phase in PHASES}


def _bucket_bounds(buckets: list[float], value: float) -> tuple[float, float]:
    """The (lower, upper] bucket of ``value`` among the finite ``buckets`` (0 below the first)."""
    i = bisect.bisect_left(buckets, value)
    assert i < len(buckets), f"{value} s is beyond the last finite bucket"
    return (buckets[i - 1] if i else 0.0, buckets[i])


def _query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    """``GET /api/v1/query``; fails with Prometheus's own error unless it answers success."""
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert answer["status"] == "success", f"{expr}: {answer.get('errorType')}: {answer.get('error')}"
    return answer["data"]["result"]


@pytest.fixture(scope="module")
def prometheus(deploy_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Prometheus on deploy/prometheus.yml with the target pointed at the test server and a 1 s
    scrape; its base URL. Stopped by PID at the end."""
    assert PROMETHEUS is not None
    workdir = tmp_path_factory.mktemp("prometheus")
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    (job,) = config["scrape_configs"]
    job["static_configs"] = [{"targets": [deploy_server.url.removeprefix("http://")]}]
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    url = f"http://127.0.0.1:{free_port()}"
    log_path = workdir / "prometheus.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address={url.removeprefix('http://')}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        try:
            wait_ready(url, proc, timeout=30, path="/-/ready")
        except (RuntimeError, TimeoutError) as exc:
            raise AssertionError(f"{exc}\n--- prometheus log ---\n{log_path.read_text(errors='replace')}") from None
        yield url
    finally:
        stop(proc, timeout=15)


def _wait_counted(prometheus: str, expected: dict[str, int]) -> None:
    """Wait until Prometheus's scrapes hold ``expected`` requests per model, and none for any other.

    Every served model's series exist from start-up at zero (the streaming variants too), so a
    model with no traffic shows as 0 rather than being absent.
    """
    counted: dict[str, float] = {}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        result = _query(prometheus, 'sum by (model) (rnn_serve_latency_seconds_count{phase="total"})')
        counted = {r["metric"]["model"]: float(r["value"][1]) for r in result}
        if {m: n for m, n in counted.items() if n} == expected:
            return
        time.sleep(0.5)
    raise AssertionError(f"Prometheus never saw {expected} requests: {counted}")


@pytest.fixture(scope="module")
def traffic(deploy_server: Server, prometheus: str) -> dict[str, dict[str, list[float]]]:
    """``REQUESTS_PER_MODEL`` predictions per model; the latencies the server reported for each,
    model → phase → seconds. Returns once Prometheus has scraped all of them.

    Sent in two rounds with a scrape between: a model's series appear at its first request, so
    everything sent before their first scrape is in the first sample, and ``rate()`` (what the
    dashboard plots) only sees what came after it.
    """
    models = [m["name"] for m in httpx.get(f"{deploy_server.url}/v1/models", timeout=10).json()["models"]]
    reported: dict[str, dict[str, list[float]]] = {m: {p: [] for p in PHASES} for m in models}
    half = REQUESTS_PER_MODEL // 2
    with httpx.Client(base_url=deploy_server.url, timeout=10) as client:
        for sent in (half, REQUESTS_PER_MODEL):
            for model in models:
                body = _body(model)
                for _ in range(sent - len(reported[model]["total"])):
                    response = client.post(f"/v1/models/{model}/predict", json=body)
                    assert response.status_code == 200, response.text
                    for phase, seconds in _server_timing(response.headers["server-timing"]).items():
                        reported[model][phase].append(seconds)
            _wait_counted(prometheus, {m: sent for m in models})
    return reported


def _dashboard_exprs() -> list[str]:
    """Every PromQL expression of the dashboard's panels (rows included)."""

    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for item in items:
            yield item
            yield from panels(item.get("panels", []))

    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in panels(dashboard["panels"]) for t in p.get("targets", [])]


def _as_promql(expr: str) -> str:
    """The query Grafana sends for ``expr`` with every variable set to "all"."""
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"a Grafana variable the test does not know: {expr}"
    return expr


@pytest.mark.skipif(PROMTOOL is None, reason=SKIP_REASON)
def test_promtool_accepts_the_committed_config() -> None:
    assert PROMTOOL is not None
    proc = subprocess.run(
        [PROMTOOL, "check", "config", str(DEPLOY / "prometheus.yml")],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_p99_per_model_and_phase_matches_the_reported_latencies(
    prometheus: str, traffic: dict[str, dict[str, list[float]]]
) -> None:
    result = _query(prometheus, P99_QUERY)
    p99 = {(r["metric"]["model"], r["metric"]["phase"]): float(r["value"][1]) for r in result}
    # Models without traffic (the streaming variants) are exported at zero, so their quantile is NaN.
    idle = {key for key in p99 if key[0] not in traffic}
    assert all(math.isnan(p99.pop(key)) for key in idle), idle
    assert set(p99) == {(m, p) for m in traffic for p in PHASES}
    # The bucket bounds as the service exports them (le labels), so the check follows the service.
    les = _query(prometheus, "count by (le) (rnn_serve_latency_seconds_bucket)")
    buckets = sorted(float(r["metric"]["le"]) for r in les if r["metric"]["le"] != "+Inf")
    rank = math.ceil(QUANTILE * REQUESTS_PER_MODEL)
    rows = []
    for (model, phase), estimate in sorted(p99.items()):
        # histogram_quantile interpolates inside the bucket that holds the rank-th observation.
        exact = sorted(traffic[model][phase])[rank - 1]
        low = _bucket_bounds(buckets, max(exact - RESOLUTION_S, 0.0))[0]
        high = _bucket_bounds(buckets, exact + RESOLUTION_S)[1]
        rows.append(f"{model:16} {phase:12} p99 {estimate * 1e3:8.3f} ms  reported {exact * 1e3:8.3f} ms")
        assert low <= estimate <= high, (model, phase, estimate, exact, (low, high))
    print("\n" + "\n".join(rows))


def test_every_dashboard_expression_runs_on_prometheus(
    deploy_server: Server, prometheus: str, traffic: dict[str, dict[str, list[float]]]
) -> None:
    exprs = _dashboard_exprs()
    exported = {
        line.split("{")[0].split(" ")[0]
        for line in httpx.get(f"{deploy_server.url}/metrics", timeout=10).text.splitlines()
        if line and not line.startswith("#")
    }
    scraped = set(httpx.get(f"{prometheus}/api/v1/label/__name__/values", timeout=10).json()["data"])
    referenced: set[str] = set()
    for expr in exprs:
        names = set(re.findall(r"\brnn_serve_\w+", expr))
        assert names, f"no rnn-serve metric in {expr}"
        assert names <= exported, f"{expr} names metrics the service does not export: {names - exported}"
        assert names <= scraped, f"{expr} names metrics Prometheus did not scrape: {names - scraped}"
        referenced |= names
        result = _query(prometheus, _as_promql(expr))
        assert result, f"no data for {expr} after {len(traffic)} models' traffic"
        busy = [r for r in result if r["metric"].get("model", next(iter(traffic))) in traffic]
        assert busy, f"no data for a model with traffic from {expr}: {result}"
        assert all(r["value"][1] != "NaN" for r in busy), f"NaN from {expr}: {result}"
    assert {
        "rnn_serve_latency_seconds_bucket",
        "rnn_serve_requests_total",
        "rnn_serve_requests_in_flight",
        "rnn_serve_batch_size_bucket",
        "rnn_serve_queue_depth",
        "rnn_serve_stream_sessions",
    } <= referenced
    latency = [e for e in exprs if "rnn_serve_latency_seconds_bucket" in e]
    quantiles = {q for e in latency for q in re.findall(r"histogram_quantile\(([0-9.]+)", e)}
    assert quantiles == {"0.5", "0.99"}
