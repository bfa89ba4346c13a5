"""Served latency: p50 of the real server over HTTP at concurrency 1, models alternating in blocks.

Why: raw ``session.run`` leaves out what a user pays on every request (HTTP, JSON, preprocessing,
the model's thread hand-off). The accuracy-vs-latency curves and the deployment map quote the
*served* figure beside the raw one, measured through ``rnn-serve serve`` itself
(:func:`loadtest.servers.run_server`) with one keep-alive connection, so the client adds the
same small constant to every model. Models alternate in blocks, the order reversing each round,
so machine drift lands on every model alike; the figure is the median over all requests.
"""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from loadtest.servers import run_server

WARMUP = 20  # requests per model before timing (connection, caches, the model's first runs)
ROUNDS = 6
BLOCK = 40  # requests per model per round


@dataclass(frozen=True)
class Request:
    """One pre-serialised request: the same body every time, so only the server varies."""

    path: str
    body: bytes
    headers: dict[str, str]


class ServedError(RuntimeError):
    """The server answered a timed request with something other than 200."""


def _send(conn: http.client.HTTPConnection, req: Request) -> float:
    t0 = time.perf_counter()
    conn.request("POST", req.path, body=req.body, headers=req.headers)
    resp = conn.getresponse()
    payload = resp.read()
    elapsed = (time.perf_counter() - t0) * 1e3
    if resp.status != 200:
        raise ServedError(f"POST {req.path}: HTTP {resp.status}: {payload[:300]!r}")
    return elapsed


def time_requests(
    url: str, requests: dict[str, Request], rounds: int = ROUNDS, block: int = BLOCK
) -> dict[str, dict[str, float]]:
    """Median and p90 ms per name against a running server at ``url`` (one connection, c=1)."""
    conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=60)
    try:
        for req in requests.values():
            for _ in range(WARMUP):
                _send(conn, req)
        times: dict[str, list[float]] = {name: [] for name in requests}
        for r in range(rounds):
            for name in list(requests) if r % 2 == 0 else list(reversed(requests)):
                times[name] += [_send(conn, requests[name]) for _ in range(block)]
    finally:
        conn.close()
    return {
        name: {"median_ms": float(np.median(t)), "p90_ms": float(np.percentile(t, 90)), "n": len(t)}
        for name, t in times.items()
    }


def served_latency(
    model_repository: Path,
    requests: dict[str, Request],
    *,
    env: dict[str, str] | None = None,
    cpus: str | None = None,
    rounds: int = ROUNDS,
    block: int = BLOCK,
) -> dict[str, dict[str, float]]:
    """Start ``rnn-serve serve`` on ``model_repository``, time ``requests``, stop it by PID."""
    with run_server(model_repository, env=env, cpus=cpus, ready_path="/v2/health/ready", timeout=300) as server:
        return time_requests(server.url, requests, rounds, block)
