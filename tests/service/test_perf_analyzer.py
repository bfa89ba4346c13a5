"""Triton's perf_analyzer as users run it, over HTTP and gRPC, against a real server on every model.

perf_analyzer is installed on first use by :mod:`loadtest.perf_analyzer` (``tritonclient[all]``
in a venv under ``.cache/perf_analyzer/``). The test skips, saying why, only when that install
cannot be made (no registry) or the binary cannot start.

Every run uses perf_analyzer's DEFAULT data (random bytes: NaN and Inf included, which V2 passes
to the model as Triton does), short windows and a loose stability rule so it finishes quickly:
what is checked is that it works, not how fast. The plain models must not be measured in
sequence mode, the ``-stream`` models must be; the server-side statistics it prints must add up.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest.perf_analyzer import BINARY, Unavailable, install
from loadtest.servers import Server, run_server
from tests.service.conftest import one_process
from tests.service.tiny_models import MODEL_NAMES

#: short windows, few trials, any spread accepted: a functional check, seconds per model
QUICK = ["-p", "100", "--max-trials", "10", "--stability-percentage", "999"]
#: the free time axis of each -stream model, and sentiment's, need a shape (as any dynamic axis does)
SHAPES = {
    "sentiment": ["--shape", "tokens:20"],
    "keywords": ["--shape", "features:20,40"],
    "forecast": ["--shape", "history:24,7"],
}
#: with more workers the -stream models are not served (tests/service/test_workers.py checks why)
STREAMS = tuple(pytest.param(f"{name}-stream", marks=one_process) for name in MODEL_NAMES)


@pytest.fixture(scope="module")
def perf_analyzer() -> dict[str, str]:
    """The environment perf_analyzer runs in; skips, saying why, when it cannot be installed or started."""
    try:
        return install()
    except Unavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def pa_server(tiny_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with run_server(
        tiny_repo,
        grpc=True,
        log_dir=tmp_path_factory.mktemp("pa-logs"),
        ready_path="/v2/health/ready",
    ) as srv:
        yield srv


def run(env: dict[str, str], server: Server, model: str, protocol: str, *load: str) -> str:
    url = server.grpc_address if protocol == "grpc" else server.url.removeprefix("http://")
    cmd = [
        str(BINARY),
        "-m",
        model,
        "-i",
        protocol,
        "-u",
        str(url),
        *SHAPES[model.split("-", maxsplit=1)[0]],
        *QUICK,
        *load,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{out}\n--- server log ---\n{server.log()[-3000:]}"
    assert not re.search(r"error|failed", out, re.IGNORECASE), out
    return out


def server_stats(out: str) -> list[dict[str, float]]:
    """The ``Server:`` block of each load level: counts and the phases of the average request."""
    levels = []
    for block in re.findall(r"  Server: \n(.*?Avg request latency: [^\n]*)", out, re.DOTALL):
        stats = {
            key: float(re.search(rf"{label}: (\d+)", block).group(1))  # type: ignore[union-attr]
            for key, label in (
                ("inference", "Inference count"),
                ("execution", "Execution count"),
                ("success", "Successful request count"),
            )
        }
        for phase in ("queue", "compute input", "compute infer", "compute output"):
            stats[phase] = float(re.search(rf"{phase} (\d+) usec", block).group(1))  # type: ignore[union-attr]
        levels.append(stats)
    return levels


def check(out: str, levels: int, sequences: bool) -> None:
    stats = server_stats(out)
    assert len(stats) == levels, out
    assert ("Sequence count:" in out) == sequences, out
    for level in stats:
        assert level["success"] > 0 and level["inference"] == level["success"], out  # batch 1: one row each
        # perf_analyzer reads the statistics before and after a window; a run counts as an execution
        # when it ends, its requests as successes a moment later, so a window edge may split the two
        # by the requests in flight (at most the concurrency, 2)
        assert 1 <= level["execution"] <= level["inference"] + 2, out
        if sequences:  # each step runs the step model once: never merged with another
            assert abs(level["execution"] - level["inference"]) <= 2, out
        assert level["compute infer"] > 0 and level["compute input"] > 0, out
        assert level["compute output"] == 0, out  # V2 encodes after the timing ends (docs/v2.md)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
@pytest.mark.parametrize("model", [*MODEL_NAMES, *STREAMS])
def test_concurrency_range_default_data(
    perf_analyzer: dict[str, str], pa_server: Server, model: str, protocol: str
) -> None:
    out = run(perf_analyzer, pa_server, model, protocol, "--concurrency-range", "1:2")
    check(out, levels=2, sequences=model.endswith("-stream"))


@pytest.mark.parametrize("protocol", ["http", "grpc"])
@pytest.mark.parametrize(
    "model", ["sentiment-gru", "forecast-lstm", pytest.param("keywords-gru-stream", marks=one_process)]
)
def test_request_rate_range(perf_analyzer: dict[str, str], pa_server: Server, model: str, protocol: str) -> None:
    out = run(perf_analyzer, pa_server, model, protocol, "--request-rate-range", "100:200:100")
    check(out, levels=2, sequences=model.endswith("-stream"))


@one_process
def test_grpc_streaming_sequences(perf_analyzer: dict[str, str], pa_server: Server) -> None:
    """``--streaming`` sends each sequence over ModelStreamInfer, one request at a time."""
    out = run(perf_analyzer, pa_server, "forecast-gru-stream", "grpc", "--streaming", "--concurrency-range", "2")
    check(out, levels=1, sequences=True)
