"""Concurrency 1 for ``benchmarks.bench``: (a) the raw ``session.run`` floor and (b) HTTP p50/p99,
by Python's ``http.client`` (interleaved request by request with raw runs) and by ``wrk -t1 -c1``
(C, pinned; interleaved in blocks). See ``benchmarks/bench.py`` for how the two are reported."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_vs_wrk import run_wrk
from loadtest.workload import Payload
from service.runtime.repository import load_model
from service.settings import Settings


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


class Raw:
    """One model in-process, loaded as the server loads it (``load_model``: the same session
    options, preprocessing and warm-up), so (a) is the floor of exactly what (b) runs."""

    def __init__(self, repo: Path, name: str, payloads: list[Payload]) -> None:
        model = load_model(repo / name, Settings())
        if model.runner is None or model.task is None:
            raise RuntimeError(f"{name} did not load: {model.error}")
        self.runner, task = model.runner, model.task
        self.session, self.outputs = self.runner.session, self.runner.output_names
        self.inputs = [task.preprocess(task.parse(p.body, p.content_type)) for p in payloads]

    def run_ms(self, i: int) -> float:
        t0 = time.perf_counter()
        self.session.run(self.outputs, self.inputs[i % len(self.inputs)])
        return (time.perf_counter() - t0) * 1e3

    def block_ms(self, seconds: float, start: int) -> list[float]:
        """Back-to-back runs for ``seconds``, cycling the inputs from index ``start`` (so successive
        blocks together cover every input evenly, as wrk's round-robin over the same bodies does)."""
        out: list[float] = []
        deadline = time.perf_counter() + seconds
        i = start
        while time.perf_counter() < deadline:
            out.append(self.run_ms(i))
            i += 1
        return out

    def close(self) -> None:
        self.runner.close()


def concurrency_one(urls: dict[str, str], raw: Raw, name: str, payloads: list[Payload], n: int) -> dict[str, Any]:
    """(a) and (b): per request i, POST to each server and one raw run on the same tensors."""
    conns = {mode: http.client.HTTPConnection(url.removeprefix("http://")) for mode, url in urls.items()}
    http_ms: dict[str, list[float]] = {mode: [] for mode in urls}
    server_total: dict[str, list[float]] = {mode: [] for mode in urls}
    raw_ms: list[float] = []
    warm = min(50, n)
    for i in range(n + warm):
        p = payloads[i % len(payloads)]
        for mode, conn in conns.items():
            t0 = time.perf_counter()
            conn.request("POST", f"/v1/models/{name}/predict", body=p.body, headers=p.headers)
            resp = conn.getresponse()
            body = resp.read()
            elapsed = (time.perf_counter() - t0) * 1e3
            if resp.status != 200:
                raise RuntimeError(f"{name} ({mode}): HTTP {resp.status} {body[:200]!r}")
            if i >= warm:
                http_ms[mode].append(elapsed)
                server_total[mode].append(json.loads(body)["timing"]["total_ms"])
        r = raw.run_ms(i)
        if i >= warm:
            raw_ms.append(r)
    for conn in conns.values():
        conn.close()
    out: dict[str, Any] = {"raw_p50_ms": statistics.median(raw_ms), "n": n}
    for mode in urls:
        out[f"http_{mode}_p50_ms"] = statistics.median(http_ms[mode])
        out[f"http_{mode}_p99_ms"] = _percentile(http_ms[mode], 99)
        out[f"server_{mode}_total_p50_ms"] = statistics.median(server_total[mode])
    return out


def _pin_threads(cpus: set[int]) -> None:
    """Move every thread of this process to ``cpus``. ``os.sched_setaffinity(0, …)`` moves only the
    calling thread; onnxruntime's pool threads (intra-op > 1) would stay where they were."""
    try:
        tids = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        tids = [0]
    for tid in tids:
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            os.sched_setaffinity(tid, cpus)


def cpu_plan() -> tuple[int, int] | None:
    """(client CPU, server CPU) = (first, last) allowed CPU when there are ≥ 2 and ``taskset`` exists
    (the servers are pinned with it); None: everything runs unpinned."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or shutil.which("taskset") is None:
        return None
    return cpus[0], cpus[-1]


def concurrency_one_wrk(
    urls: dict[str, str],
    raw: Raw,
    name: str,
    payloads: list[Payload],
    rounds: int,
    seconds: float,
    plan: tuple[int, int] | None,
    seed: int,
) -> dict[str, Any]:
    """(a) and (b) with ``wrk -t1 -c1``: per round one wrk block per server and one raw block, in random
    order; (b) = medians of the round p50s / p99s, (a) = median of all raw runs. One discarded round
    first (connection set-up, caches). Raw blocks run on the server's CPU (the servers idle then);
    while wrk runs, this process waits on the client's CPU. wrk's p99 includes its coordinated-
    omission back-fill (values ≥ 2× the mean cycle), so it can only be higher than the plain one."""
    client_cpu, server_cpu = plan if plan else (None, None)
    home = os.sched_getaffinity(0)
    rng = random.Random(seed)
    per_mode: dict[str, list[dict[str, float]]] = {mode: [] for mode in urls}
    raw_ms: list[float] = []
    raw_round_p50: list[float] = []
    cursor = 0
    try:
        for rnd in range(rounds + 1):
            blocks = [*urls, "raw"]
            rng.shuffle(blocks)
            for block in blocks:
                if block == "raw":
                    if server_cpu is not None:
                        _pin_threads({server_cpu})
                    ms = raw.block_ms(seconds, cursor)
                    cursor += len(ms)
                    if client_cpu is not None:
                        _pin_threads({client_cpu})
                    if rnd > 0:
                        raw_ms += ms
                        raw_round_p50.append(statistics.median(ms))
                    continue
                res = run_wrk(f"{urls[block]}/v1/models/{name}/predict", payloads, 1, seconds, client_cpu)
                if res["errors"] or res["socket_errors"]:
                    raise RuntimeError(
                        f"{name} ({block}): wrk saw {res['errors']:.0f} non-2xx responses, "
                        f"{res['socket_errors']:.0f} socket errors"
                    )
                if rnd > 0:
                    per_mode[block].append(res)
    finally:
        _pin_threads(home)
    out: dict[str, Any] = {
        "client": "wrk",
        "rounds": rounds,
        "seconds_per_block": seconds,
        "bodies": len(payloads),
        "pinned": plan is not None,
        "client_cpu": client_cpu,
        "server_cpu": server_cpu,
        "raw_cpu": server_cpu,
        "raw_p50_ms": statistics.median(raw_ms),
        "raw_runs": len(raw_ms),
        "raw_round_p50_ms": raw_round_p50,
    }
    for mode, mode_rounds in per_mode.items():
        out[f"http_{mode}_p50_ms"] = statistics.median(r["p50_ms"] for r in mode_rounds)
        out[f"http_{mode}_p99_ms"] = statistics.median(r["p99_ms"] for r in mode_rounds)
        out[f"http_{mode}_rounds"] = mode_rounds
    return out
