"""The measurements of ``python -m benchmarks.peers``, one block at a time.

* :func:`check_outputs`: a framework's V2 JSON answers against raw onnxruntime (abort on a miss).
* :func:`raw_run_ms`: the median raw ``session.run`` of the same tensors, in-process, on the
  servers' CPU while they idle (the model's own cost, which no server can cut).
* :func:`wrk_block`: ``wrk -t1 -c<N>`` (pinned to the client CPU) with the server's CPU time (its
  whole process tree, from ``/proc``) before and after, so CPU per request comes with it.
* :func:`open_loop`: the project's load tester (``loadtest``) at one fixed offered rate.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_vs_wrk import run_wrk
from benchmarks.peers.peer_onnx import DTYPES, decode_v2
from benchmarks.peers.servers import Running, tree_cpu_s
from loadtest import LoadTestConfig, run
from loadtest.v2 import v2_payloads
from loadtest.workload import Payload, load_examples, task_of
from service.runtime.sessions import SessionConfig, open_session
from service.settings import Settings

#: the largest absolute difference from raw onnxruntime that still counts as the same answer
TOLERANCE = 1e-5


class OutputMismatch(RuntimeError):
    """A framework answered differently from raw onnxruntime on the same tensors."""


def bodies(model_dir: Path, n: int) -> tuple[list[Payload], str]:
    """``n`` V2 JSON bodies for the package ``model_dir``, built by the load tester from held-out
    examples (seed 0): exactly the bytes the load tester sends, and the bytes every framework gets;
    and where the examples came from."""
    examples = load_examples(task_of(model_dir.name), None, max_items=n, seed=0)
    return v2_payloads(examples, model_dir.name, None, model_dir.parent)[0], examples.source


def _session(model_dir: Path) -> Any:
    return open_session(model_dir / "model.onnx", SessionConfig.from_settings(Settings()))


def raw_outputs(model_dir: Path, payloads: list[Payload]) -> list[dict[str, np.ndarray]]:
    """What raw onnxruntime (this project's session options) answers for each body."""
    session = _session(model_dir)
    names = [o.name for o in session.get_outputs()]
    out = []
    for p in payloads:
        arrays = session.run(names, decode_v2(json.loads(p.body)))
        out.append(dict(zip(names, arrays, strict=True)))
    return out


def post_json(url: str, body: bytes, timeout: float = 30.0) -> dict[str, Any]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return dict(json.loads(resp.read()))


def response_outputs(doc: dict[str, Any]) -> dict[str, np.ndarray]:
    """A V2 JSON response's ``outputs`` as numpy arrays of their declared shape and datatype."""
    return {t["name"]: np.asarray(t["data"], dtype=DTYPES[t["datatype"]]).reshape(t["shape"]) for t in doc["outputs"]}


def check_outputs(server: Running, model: str, payloads: list[Payload], expected: list[dict[str, np.ndarray]]) -> float:
    """The largest |served − raw| over ``payloads``; :class:`OutputMismatch` past :data:`TOLERANCE`
    or when names or shapes differ."""
    worst = 0.0
    for i, (p, want) in enumerate(zip(payloads, expected, strict=True)):
        got = response_outputs(post_json(server.infer_url(model), p.body))
        if set(got) != set(want) or any(got[n].shape != want[n].shape for n in want):
            raise OutputMismatch(f"{server.key} {model} body {i}: outputs {got.keys()} differ from {want.keys()}")
        worst = max(worst, *(float(np.max(np.abs(got[n] - want[n]))) for n in want))
        if worst > TOLERANCE:
            raise OutputMismatch(f"{server.key} {model} body {i}: |served − raw| = {worst:.3g} > {TOLERANCE}")
    return worst


@contextmanager
def pinned(cpu: int | None) -> Iterator[None]:
    """This process on ``cpu`` for the block, its CPUs back after."""
    before = os.sched_getaffinity(0)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def raw_run_ms(model_dir: Path, payloads: list[Payload], seconds: float, cpu: int | None) -> float:
    """Median raw ``session.run`` (ms) over the bodies' tensors, round-robin, pinned to ``cpu``."""
    with pinned(cpu):
        session = _session(model_dir)
        feeds = [decode_v2(json.loads(p.body)) for p in payloads]
        times: list[float] = []
        deadline, i = time.perf_counter() + seconds, 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            session.run(None, feeds[i % len(feeds)])
            times.append((time.perf_counter() - started) * 1e3)
            i += 1
    return float(np.median(times))


def idle_cpu_fraction(server: Running, seconds: float = 1.0) -> float:
    """The share of one core the idle server burns (polling loops would steal from the others)."""
    cpu0 = tree_cpu_s(server.pid)
    time.sleep(seconds)
    return (tree_cpu_s(server.pid) - cpu0) / seconds


def wrk_block(
    server: Running, model: str, payloads: list[Payload], concurrency: int, seconds: float, client_cpu: int | None
) -> dict[str, float]:
    """One ``wrk`` block: req/s, p50/p99 (ms), errors, and the server's CPU ms per request."""
    cpu0 = tree_cpu_s(server.pid)
    started = time.perf_counter()
    res = run_wrk(server.infer_url(model), payloads, concurrency, seconds, client_cpu)
    elapsed = time.perf_counter() - started
    cpu1 = tree_cpu_s(server.pid)
    requests = max(1.0, res["throughput_rps"] * max(1, round(seconds)))
    # Counted, not fatal: the answers were checked before, and a stall of this shared machine past
    # wrk's 2-s timeout must not end a run; the report lists every error.
    errors = res["errors"] + res["socket_errors"]
    return {**res, "errors": errors, "cpu_ms": (cpu1 - cpu0) * 1e3 / requests, "elapsed_s": elapsed}


def open_loop(
    server: Running, model: str, repository: Path, rate: float, seconds: float, n: int, client_cpu: int | None
) -> dict[str, float]:
    """The load tester (open loop, constant arrivals) at ``rate`` req/s for ``seconds`` on the same
    bodies (``n`` of them); p50/p99 and the achieved rate."""
    cfg = LoadTestConfig(
        url=server.url,
        models=[model],
        endpoint="v2",
        mode="open",
        rate=rate,
        duration=seconds,
        warmup=min(1.0, seconds / 2),
        rounds=1,
        seed=0,
        quiet=True,
        max_payloads=n,
        model_repository=repository,
        bootstrap_resamples=10,
    )
    with pinned(client_cpu):
        m = run(cfg)["models"][model]
    return {
        "p50_ms": m["p50_ms"],
        "p99_ms": m["p99_ms"],
        "throughput_rps": m["throughput_rps"],
        "errors": float(m["errors"]),
    }
