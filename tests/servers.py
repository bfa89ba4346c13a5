"""Start a real rnn-serve server on 127.0.0.1 for tests, and stop it by PID.

Tests of HTTP behaviour run the real server process (uvicorn) rather than an in-process client,
so that what they see is what users see.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_ready(url: str, process: subprocess.Popen | None, timeout: float, path: str = "/v2/health/live") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url + path, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url}{path} not ready after {timeout} s")


@contextmanager
def run_server(
    model_repository: Path | str,
    *,
    env: dict[str, str] | None = None,
    extra_args: list[str] | None = None,
    log_dir: Path,
    ready_path: str = "/v2/health/live",
    timeout: float = 60.0,
) -> Iterator[Server]:
    """Run ``rnn-serve serve`` on a free port; yield once ``ready_path`` answers 200; stop by PID."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable, "-m", "service.cli", "serve",
        "--host", "127.0.0.1", "--port", str(port),
        "--model-repository", str(model_repository),
        *(extra_args or []),
    ]
    log_path = Path(log_dir) / f"server-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    try:
        try:
            wait_ready(url, proc, timeout, ready_path)
        except Exception as exc:
            raise RuntimeError(f"{exc}\n--- server log ---\n{log_path.read_text(errors='replace')}") from None
        yield Server(url=url, process=proc, log_path=log_path)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
