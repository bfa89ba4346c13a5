"""One settings class: env (prefixed and plain HOST/PORT) and generated CLI flags map onto it."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from loadtest.servers import run_server
from service.server import build_parser
from service.settings import Settings, settings_from_args


def test_defaults_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HOST", "PORT", "RNN_SERVE_HOST", "RNN_SERVE_PORT", "RNN_SERVE_MODEL_REPOSITORY"):
        monkeypatch.delenv(var, raising=False)
    s = Settings()
    assert (s.intra_op_threads, s.inter_op_threads, s.port, s.model_repository) == (1, 1, 8000, Path("models"))
    monkeypatch.setenv("PORT", "9001")
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("RNN_SERVE_INTRA_OP_THREADS", "2")
    monkeypatch.setenv("RNN_SERVE_GRAPH_OPTIMIZATION_LEVEL", "basic")
    s = Settings()
    assert (s.port, s.host, s.intra_op_threads, s.graph_optimization_level) == (9001, "0.0.0.0", 2, "basic")
    monkeypatch.setenv("RNN_SERVE_PORT", "9002")
    assert Settings().port == 9002


def test_cli_flags_override_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNN_SERVE_PORT", "9002")
    monkeypatch.setenv("RNN_SERVE_MAX_BODY_BYTES", "5000")
    args = build_parser().parse_args(
        ["--port", "7000", "--model-repository", "/x", "--no-verify-sha256", "--graph-optimization-level", "extended"]
    )
    s = settings_from_args(args)
    assert (s.port, s.model_repository, s.verify_sha256, s.graph_optimization_level, s.max_body_bytes) == (
        7000,
        Path("/x"),
        False,
        "extended",
        5000,
    )
    flags = {a.option_strings[0] for a in build_parser()._actions if a.option_strings}
    assert {"--" + f.replace("_", "-") for f in Settings.model_fields} <= flags
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--graph-optimization-level", "max"])


def test_sigterm_stops_cleanly(tiny_repo: Path, tmp_path: Path) -> None:
    with run_server(tiny_repo, log_dir=tmp_path, env={"RNN_SERVE_WARMUP_RUNS": "1"}) as srv:
        assert httpx.post(f"{srv.url}/v1/models/sentiment-gru/predict", json={"text": "ok"}).status_code == 200
        started = time.monotonic()
        srv.process.send_signal(signal.SIGTERM)
        # drained on request: exit status 0, not uvicorn's re-raised SIGTERM (-15, a "crash" to supervisors)
        assert srv.process.wait(timeout=15) == 0
        assert time.monotonic() - started < 10
        log = srv.log()
        assert "Waiting for application shutdown" in log and "Finished server process" in log
