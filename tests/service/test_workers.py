"""``--workers 2``: two processes on one port (and one gRPC port) whose statistics and metrics add
up, a worker that dies is replaced without losing its counts, streaming is refused with the reason,
SIGTERM drains both and the parent exits 0.

The server's ``TMPDIR`` is the test's own folder, so the test can read each worker's counter file
(``rnn-serve-workers-*/stats/<model>.<pid>.stats``) and check the sum is the sum of the parts.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from loadtest.servers import REPO_ROOT, run_server
from service.settings import Settings
from tests.service.conftest import history

MODEL = "forecast-gru"


def _per_worker(tmp: Path) -> dict[int, int]:
    """pid → successful requests of MODEL, from each worker's own file (slot 0 is the success count)."""
    return {
        int(path.name.split(".")[1]): int(np.fromfile(path, dtype=np.int64)[0])
        for path in tmp.glob(f"rnn-serve-workers-*/stats/{MODEL}.*.stats")
    }


async def _send(url: str, n: int, concurrency: int = 8) -> list[int]:
    """``n`` predictions over ``concurrency`` clients, each request on a new connection (so the
    kernel picks a worker for each)."""
    body = {"history": history()}
    statuses: list[int] = []

    async def client(count: int) -> None:
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            for _ in range(count):
                async with session.post(f"{url}/v1/models/{MODEL}/predict", json=body) as resp:
                    await resp.read()
                    statuses.append(resp.status)

    await asyncio.gather(*(client(n // concurrency) for _ in range(concurrency)))
    return statuses


def _metric(text: str, name: str, labels: str) -> float:
    selector = "\\{" + re.escape(labels) + "\\}" if labels else ""
    match = re.search(rf"^{name}{selector} (\S+)$", text, re.M)
    assert match, f"{name}{{{labels}}} not in /metrics"
    return float(match.group(1))


def _wait(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_two_workers_add_up_survive_a_crash_refuse_streaming_and_drain(tiny_repo: Path, tmp_path: Path) -> None:
    env = {"RNN_SERVE_WORKERS": "2", "TMPDIR": str(tmp_path), "RNN_SERVE_SHUTDOWN_DELAY_S": "0.1"}
    with run_server(tiny_repo, env=env, log_dir=tmp_path, ready_path="/v2/health/ready", grpc=True) as srv:
        _wait(lambda: len(_per_worker(tmp_path)) == 2)
        # new connections until both workers have answered some (the kernel picks, not us)
        sent = 0
        deadline = time.monotonic() + 30
        while min(_per_worker(tmp_path).values()) == 0:
            assert time.monotonic() < deadline, f"one worker never got a connection: {_per_worker(tmp_path)}"
            statuses = asyncio.run(_send(srv.url, 40))
            assert statuses == [200] * 40
            sent += 40
        parts = _per_worker(tmp_path)
        assert sum(parts.values()) == sent, parts

        # any worker answers for all of them
        for _ in range(4):
            stats = httpx.get(f"{srv.url}/v2/models/{MODEL}/stats", timeout=10).json()["model_stats"][0]
            assert stats["inference_count"] == sent
            assert stats["inference_stats"]["success"]["count"] == sent
            assert sum(b["compute_infer"]["count"] for b in stats["batch_stats"]) == stats["execution_count"]
            text = httpx.get(f"{srv.url}/metrics", timeout=10).text
            assert _metric(text, "rnn_serve_latency_seconds_count", f'model="{MODEL}",phase="total"') == sent
            route = "/v1/models/{name}/predict"
            assert _metric(text, "rnn_serve_requests_total", f'model="{MODEL}",route="{route}",status="200"') == sent
            assert _metric(text, "rnn_serve_requests_in_flight", "") == 1  # this scrape, whichever worker has it

        # gRPC: every worker serves the one port (SO_REUSEPORT); its calls count in the same totals
        assert srv.grpc_address is not None
        client = grpcclient.InferenceServerClient(srv.grpc_address)
        features = grpcclient.InferInput("history", [1, 96, 7], "FP32")
        features.set_data_from_numpy(np.asarray([history()], dtype=np.float32))
        for _ in range(6):  # new channels, so the kernel may pick either worker
            fresh = grpcclient.InferenceServerClient(srv.grpc_address)
            assert fresh.infer(MODEL, [features]).as_numpy("forecast").shape == (1, 96)
            fresh.close()
        sent += 6
        grpc_stats = client.get_inference_statistics(MODEL, as_json=True)["model_stats"][0]
        assert int(grpc_stats["inference_count"]) == sent
        client.close()

        # streaming state cannot follow a client across workers: refused, with the reason
        refused = httpx.post(f"{srv.url}/v1/models/{MODEL}/sessions", timeout=10)
        assert refused.status_code == 400
        assert "--workers 1" in refused.json()["error"] and refused.json()["field"] == "model"

        # a worker killed outright is replaced, and what it counted stays counted
        parts = _per_worker(tmp_path)
        victim = next(iter(parts))
        os.kill(victim, signal.SIGKILL)
        _wait(lambda: len(set(_per_worker(tmp_path)) - set(parts)) == 1)
        assert sum(_per_worker(tmp_path).values()) == sent
        assert "died unasked (signal SIGKILL); starting another" in srv.log()
        stats = httpx.get(f"{srv.url}/v2/models/{MODEL}/stats", timeout=10).json()["model_stats"][0]
        assert stats["inference_count"] == sent

        srv.process.send_signal(signal.SIGTERM)
        assert srv.process.wait(timeout=30) == 0
        assert not list(tmp_path.glob("rnn-serve-workers-*")), "the shared counters' folder was left behind"


def test_workers_setting_bounds() -> None:
    assert Settings.model_fields["workers"].default == 1
    with pytest.raises(ValueError, match="workers"):
        Settings(workers=0)


def _serve(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", "serve", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_a_bad_workers_value_is_a_usage_error_naming_the_setting() -> None:
    done = _serve("--workers", "0")
    assert done.returncode == 2, done.stderr
    assert "workers: Input should be greater than or equal to 1" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_taken_port_stops_the_workers_parent_with_one_line(tiny_repo: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for flags in (["--port", str(port), "--grpc-port", "0"], ["--port", "0", "--grpc-port", str(port)]):
            done = _serve("--model-repository", str(tiny_repo), "--workers", "2", *flags)
            out = done.stdout + done.stderr
            assert done.returncode == 1, out
            assert "address already in use" in out.lower() and "Traceback" not in out
            if flags[-1] == str(port):  # named as one process names it: host:port
                assert f"gRPC cannot listen on 127.0.0.1:{port} (grpc_port)" in out
