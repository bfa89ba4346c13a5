"""Fixtures for the load-tester tests: the stalling stand-in server and the real rnn-serve server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from loadtest.servers import PORT_ATTEMPTS, free_port, run_server, stop, wait_ready

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture
def stall_server(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start ``stall_server.py`` with the given options on a free port; return its URL; stop by PID."""
    procs: list[subprocess.Popen] = []

    def start(*args: str) -> str:
        for attempt in range(1, PORT_ATTEMPTS + 1):
            port = free_port()
            log_path = tmp_path / f"stall-{port}.log"
            with open(log_path, "wb") as log:
                proc = subprocess.Popen(
                    [sys.executable, str(HERE / "stall_server.py"), "--port", str(port), *args],
                    cwd=REPO_ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=os.environ.copy(),
                )
            procs.append(proc)
            url = f"http://127.0.0.1:{port}"
            try:
                wait_ready(url, proc, timeout=20)
                return url
            except RuntimeError:  # the port was taken between free_port() and the bind: try another
                if attempt == PORT_ATTEMPTS or "address already in use" not in log_path.read_text().lower():
                    raise
        raise AssertionError("unreachable")

    try:
        yield start
    finally:
        for proc in procs:
            stop(proc, timeout=10)


@pytest.fixture(scope="module")
def tiny_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The six tiny-but-valid packages from the serving engineer's builder."""
    from tests.service.tiny_models import build_tiny_repository

    return build_tiny_repository(tmp_path_factory.mktemp("repo") / "models")


@pytest.fixture(scope="module")
def real_server(tiny_repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real ``rnn-serve serve`` on 127.0.0.1, serving the tiny repository."""
    with run_server(tiny_repository, log_dir=tmp_path_factory.mktemp("logs"), ready_path="/v2/health/ready") as srv:
        yield srv.url
