"""Fixtures for the service tests: a tiny six-model repository and one real server on it."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.servers import Server, run_server
from tests.service.tiny_models import build_tiny_repository

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tiny_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_repository(tmp_path_factory.mktemp("tiny") / "models")


@pytest.fixture(scope="session")
def server(tiny_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with run_server(
        tiny_repo, log_dir=tmp_path_factory.mktemp("logs"), ready_path="/v2/health/ready",
        extra_args=["--max-body-bytes", "200000"],
    ) as srv:
        yield srv


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
