"""Fixtures for the service tests: a tiny six-model repository and one real server on it; and a
second server for the dashboard (a results.json beside the models, CORS origins, a short latency
window)."""

from __future__ import annotations

import io
import json
import os
import shutil
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from loadtest.servers import Server, run_server
from tests.service.tiny_models import MODEL_NAMES, build_tiny_repository

#: Worker processes of the servers the tests start (they read RNN_SERVE_WORKERS from the
#: environment as any server would): ``RNN_SERVE_WORKERS=2 pytest tests/service`` runs the suite
#: against ``--workers 2``. Streaming state lives in one process, so with more workers it is off.
WORKERS = int(os.environ.get("RNN_SERVE_WORKERS", "1"))
STREAMING = WORKERS == 1
one_process = pytest.mark.skipif(
    not STREAMING,
    reason=f"RNN_SERVE_WORKERS={WORKERS}: streaming and per-process queues need one worker "
    "(tests/service/test_workers.py checks the refusal)",
)

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tiny_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_repository(tmp_path_factory.mktemp("tiny") / "models")


@pytest.fixture(scope="session")
def server(tiny_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with run_server(
        tiny_repo,
        log_dir=tmp_path_factory.mktemp("logs"),
        ready_path="/v2/health/ready",
        extra_args=["--max-body-bytes", "200000"],
    ) as srv:
        yield srv


@pytest.fixture(scope="session")
def sessions(tiny_repo: Path) -> dict[str, Any]:
    """onnxruntime run directly on each tiny package: what every V2 answer is checked against."""
    import onnxruntime as ort

    return {
        n: ort.InferenceSession(str(tiny_repo / n / "model.onnx"), providers=["CPUExecutionProvider"])
        for n in MODEL_NAMES
    }


def example(name: str, batch: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    """V2 input tensors for the tiny package ``name`` (sentiment with its optional ``lengths``)."""
    rng = np.random.default_rng(seed)
    task = name.split("-")[0]
    if task == "sentiment":
        return {
            "tokens": rng.integers(2, 20, (batch, 7)).astype(np.int64),
            "lengths": np.array([7, 4, 2, 5][:batch], dtype=np.int64),
        }
    if task == "keywords":
        return {"features": rng.normal(0, 1, (batch, 98, 40)).astype(np.float32)}
    return {"history": rng.normal(0, 1, (batch, 96, 7)).astype(np.float32)}


@pytest.fixture(scope="session")
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c


def wav_bytes(samples: np.ndarray, rate: int = 8000, channels: int = 1, width: int = 2) -> bytes:
    """A PCM WAV file of float samples in [-1, 1]."""
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    if channels > 1:
        pcm = np.repeat(pcm, channels)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes() if width == 2 else pcm.astype("<i4").tobytes())
    return buf.getvalue()


def tone(n: int = 8000, freq: float = 440.0, rate: int = 8000) -> np.ndarray:
    t = np.arange(n) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def history(rows: int = 96, cols: int = 7, seed: int = 0) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    return (rng.normal(5, 3, (rows, cols))).round(3).tolist()


#: the browser origins the dashboard server lets call its API (CORS)
ALLOWED_ORIGINS = ("http://allowed.example", "http://localhost:3000")
#: the dashboard server's latency_window: small, so the ring wraps within a test
LATENCY_WINDOW = 8


def synthetic_results() -> dict[str, Any]:
    """A results.json in the committed one's shape, with a size sweep for sentiment only (the
    sweep records are what ``sweeps.size`` will hold; the other tasks have none yet)."""
    tasks: dict[str, Any] = {}
    latency: dict[str, Any] = {}
    for task, metric, base in (("sentiment", "f1", 0.93), ("keywords", "accuracy", 0.97), ("forecast", "mse", 0.067)):
        tasks[task] = {
            cell: {
                "parameter_count": 1000 * (i + 2),
                "seconds_per_epoch": {"mean": 2.0 + i, "std": 0.1, "n": 3},
                "test": {metric: {"mean": base + 0.002 * i, "std": 0.001, "n": 3}},
            }
            for i, cell in enumerate(("gru", "lstm"))
        }
        latency[task] = {
            cell: {"median_ms": 0.1 + 0.02 * i, "p90_ms": 0.12 + 0.02 * i} for i, cell in enumerate(("gru", "lstm"))
        }
    sweep = [
        {
            "task": "sentiment",
            "cell": cell,
            "hidden_size": size,
            "seed": seed,
            "params": size * 100,
            "metric": "f1",
            "value": 0.9 + size / 10000 + seed / 1000,
            "raw_p50_ms": size / 1000,
            "served_p50_ms": 0.3 + size / 1000,
        }
        for cell in ("gru", "lstm")
        for size in (16, 64)
        for seed in (0, 1)
    ]
    return {"generated_utc": "2026-01-01T00:00:00+00:00", "tasks": tasks, "latency": latency, "sweeps": {"size": sweep}}


@pytest.fixture(scope="session")
def dash_repo(tiny_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("dash") / "models"
    shutil.copytree(tiny_repo, repo)
    (repo / "results.json").write_text(json.dumps(synthetic_results()))
    return repo


@pytest.fixture(scope="session")
def dash_server(dash_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with run_server(
        dash_repo,
        log_dir=tmp_path_factory.mktemp("dash-logs"),
        ready_path="/v2/health/ready",
        extra_args=["--cors-allow-origins", ",".join(ALLOWED_ORIGINS), "--latency-window", str(LATENCY_WINDOW)],
    ) as srv:
        yield srv


@pytest.fixture(scope="session")
def dash_client(dash_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dash_server.url, timeout=10) as c:
        yield c
