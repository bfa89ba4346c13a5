"""Real rnn-serve servers: start ``rnn-serve serve`` on 127.0.0.1 and stop it by PID.

One implementation for everything that needs a live server: the tests, the benchmarks in
``benchmarks/``, and the served-latency measurements of ``export/`` (which import it from here;
it ships with the load tester because ``export/`` may not import ``tests/``). Tests of HTTP
behaviour run the real server process (uvicorn) rather than an in-process client, so that what
they see is what users see, and the benchmarks measure the same process users run.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
#: how many ports ``run_server`` tries when the one it picked was taken before the server bound it
PORT_ATTEMPTS = 3


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM (the server drains in-flight requests), then SIGKILL if it does not exit in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path | None
    #: the ``taskset -c`` CPU list the server is pinned to; None when it runs unpinned
    cpus: str | None = None
    #: ``host:port`` of the V2 gRPC front end (``tritonclient.grpc``'s form); None when it is off
    grpc_address: str | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""


def wait_ready(
    url: str, process: subprocess.Popen[bytes] | None, timeout: float, path: str = "/v2/health/live"
) -> None:
    """Poll ``url + path`` until it answers 200; fail early if ``process`` exits."""
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
    log_dir: Path | None = None,
    ready_path: str = "/v2/health/live",
    timeout: float = 60.0,
    cpus: str | None = None,
    cwd: Path | None = None,
    grpc: bool = False,
) -> Iterator[Server]:
    """Run ``rnn-serve serve`` on a free port; yield once ``ready_path`` answers 200; stop by PID.

    ``log_dir`` keeps the server's output in ``server-<port>.log`` (else it is discarded).
    ``cpus`` is a ``taskset -c`` CPU list (``"1"``, ``"0,2-3"``): the server (and every thread and
    child it starts) runs only there, so a benchmark client on another core does not steal the
    server's CPU. Where ``taskset`` is missing the server runs unpinned and ``Server.cpus`` is None,
    so a caller can report what actually happened rather than what it asked for. ``cwd`` runs the
    server from another checkout of the project (its ``service`` package shadows this one's).
    ``grpc`` turns the V2 gRPC front end on, on a second free port (off by default: lighter).
    """
    pinned = cpus if cpus is not None and shutil.which("taskset") else None
    kept = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="rnn-serve-log-"))
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = free_port()
        grpc_port = free_port() if grpc else 0
        while grpc_port == port:  # the kernel may hand out the port it just freed again
            grpc_port = free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [
            sys.executable,
            "-m",
            "service.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--model-repository",
            str(model_repository),
            *(extra_args or []),
        ]
        if pinned is not None:
            cmd = ["taskset", "-c", pinned, *cmd]
        log_path = kept / f"server-{port}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                cmd,
                cwd=cwd or REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                # by the environment, not a flag: an older checkout (``cwd``) without gRPC ignores it
                env={**os.environ, "RNN_SERVE_GRPC_PORT": str(grpc_port), **(env or {})},
            )
        try:
            wait_ready(url, proc, timeout, ready_path)
        except Exception as exc:
            stop(proc)
            shown = log_path.read_text(errors="replace")
            # free_port() released the port before the server bound it: another process may have
            # taken it in between. Rare, and harmless to retry with another port.
            if "address already in use" in shown.lower() and attempt < PORT_ATTEMPTS:
                continue
            raise RuntimeError(f"{exc}\n--- server log ---\n{shown}") from None
        try:
            yield Server(
                url=url,
                process=proc,
                log_path=log_path if log_dir is not None else None,
                cpus=pinned,
                grpc_address=f"127.0.0.1:{grpc_port}" if grpc else None,
            )
        finally:
            stop(proc)
            if log_dir is None:
                shutil.rmtree(kept, ignore_errors=True)
        return
