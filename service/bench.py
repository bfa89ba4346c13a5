"""The serving benchmark: ``python -m service.bench [--quick]`` (``make bench``).

In ONE run on ONE machine, for every model in the repository:

(a) raw ``session.run`` median for one request (the floor), in-process, on the same tensors as (b);
(b) HTTP p50/p99 at concurrency 1 (task-level ``predict``), batching off and on, by two clients:
    - ``wrk -t1 -c1`` (C), when ``wrk`` is on PATH: the figure the (b)−(a) target is judged on.
      Its own pinned pair of servers (``taskset``: the last CPU; wrk on CPU 0 when there are ≥ 2),
      ``--wrk-rounds`` rounds of ``--wrk-seconds`` blocks (wrk off, wrk on, raw runs) in random
      order per round; the figures are the medians of the round p50s / p99s, and (a) for it is the
      median of every raw run in those blocks, run on the SERVER's CPU while the servers idle, so
      the floor sees the same core the server computes on. Python's http.client adds ≈0.3 ms of
      its own per round trip and, unpinned, shares the cores with the server; a C client on its
      own core measures the service, not the client.
    - Python ``http.client``, unpinned, on the unpinned servers below, interleaved request by request
      with (a) (kept: it is what a Python caller sees, and the figure earlier runs reported). Without
      wrk it is the only (b), and the report says so;
(c) the highest offered rate (open loop, the project's ``loadtest``) the service sustains with
    p99 ≤ 50 ms, no errors and ≥ 95 % of the offered rate completed, batching off and on: a
    geometric ramp (×1.5), the two servers side by side at each rate, until two consecutive rates
    fail (each retried once after the server drained), then bisection above the best pass;
(c') the batcher alone, in-process without HTTP (``service.bench_batcher``): 32 callers, off vs on.

Servers run as subprocesses on 127.0.0.1, one with ``RNN_SERVE_BATCHING=off`` and one with the
default settings (batching on); unpinned for everything but the wrk measurement, so (c) keeps
every core the machine has. Results: markdown on stdout and in ``OUT/BENCHMARKS.md``, every
figure in ``OUT/bench.json`` (``OUT`` defaults to ``out/bench``, which git ignores).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import re
import shutil
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from loadtest import LoadTestConfig
from loadtest import run as loadtest_run
from loadtest.bench_vs_wrk import run_wrk, wrk_version
from loadtest.workload import Payload, load_examples, task_of, v1_payloads
from service.bench_batcher import batcher_gain
from service.bench_report import markdown
from service.launch import run_server
from service.bench_stream import streaming_chunk_cost
from service.package import MODEL_FILE, read_package
from service.runtime import session_options
from service.settings import Settings
from service.tasks import pipeline_for

P99_BOUND_MS = 50.0


@contextmanager
def serve(repo: Path, env: dict[str, str], log: Path, cpus: str | None = None) -> Iterator[str]:
    """``rnn-serve serve`` on a free loopback port until every model is ready; stopped by PID.
    ``cpus``: a ``taskset -c`` list to pin the server to (see ``service.launch.run_server``)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with run_server(repo, env=env, log_dir=log.parent, ready_path="/v2/health/ready", timeout=120,
                    cpus=cpus) as srv:
        try:
            yield srv.url
        finally:
            if srv.log_path is not None:
                srv.log_path.replace(log)


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


class Raw:
    """One model in-process: the service's own session options and preprocessing."""

    def __init__(self, repo: Path, name: str, payloads: list[Any]) -> None:
        folder = repo / name
        package = read_package(folder)
        pipeline = pipeline_for(package, folder, 64)
        self.session = ort.InferenceSession(str(folder / MODEL_FILE), sess_options=session_options(Settings()),
                                            providers=["CPUExecutionProvider"])
        self.outputs = [o.name for o in package.outputs]
        self.inputs = [pipeline.preprocess(pipeline.parse(p.body, p.content_type))[0] for p in payloads]

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


def concurrency_one(urls: dict[str, str], raw: Raw, name: str, payloads: list[Any], n: int) -> dict[str, Any]:
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
        try:
            os.sched_setaffinity(tid, cpus)
        except OSError:  # a thread that ended meanwhile
            pass


def cpu_plan() -> tuple[int, int] | None:
    """(client CPU, server CPU) = (first, last) allowed CPU when there are ≥ 2 and ``taskset`` exists
    (the servers are pinned with it); None: everything runs unpinned."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or shutil.which("taskset") is None:
        return None
    return cpus[0], cpus[-1]


def concurrency_one_wrk(urls: dict[str, str], raw: Raw, name: str, payloads: list[Payload], rounds: int,
                        seconds: float, plan: tuple[int, int] | None, seed: int) -> dict[str, Any]:
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
                    raise RuntimeError(f"{name} ({block}): wrk saw {res['errors']:.0f} non-2xx responses, "
                                       f"{res['socket_errors']:.0f} socket errors")
                if rnd > 0:
                    per_mode[block].append(res)
    finally:
        _pin_threads(home)
    out: dict[str, Any] = {
        "client": "wrk", "rounds": rounds, "seconds_per_block": seconds, "bodies": len(payloads),
        "pinned": plan is not None, "client_cpu": client_cpu, "server_cpu": server_cpu,
        "raw_cpu": server_cpu, "raw_p50_ms": statistics.median(raw_ms), "raw_runs": len(raw_ms),
        "raw_round_p50_ms": raw_round_p50,
    }
    for mode, res in per_mode.items():
        out[f"http_{mode}_p50_ms"] = statistics.median(r["p50_ms"] for r in res)
        out[f"http_{mode}_p99_ms"] = statistics.median(r["p99_ms"] for r in res)
        out[f"http_{mode}_rounds"] = res
    return out


def _stats(url: str, name: str) -> tuple[int, int]:
    conn = http.client.HTTPConnection(url.removeprefix("http://"))
    conn.request("GET", f"/v2/models/{name}/stats")
    doc = json.loads(conn.getresponse().read())["model_stats"][0]
    conn.close()
    return doc["inference_count"], doc["execution_count"]


def _point(url: str, name: str, rate: float, args: argparse.Namespace) -> dict[str, Any]:
    cfg = LoadTestConfig(url=url, models=[name], rate=rate, duration=args.duration, warmup=args.warmup,
                         rounds=1, quiet=True, max_payloads=args.payloads, seed=0, bootstrap_resamples=10)
    m = loadtest_run(cfg)["models"][name]
    ok = m["errors"] == 0 and m["p99_ms"] <= P99_BOUND_MS and m["throughput_rps"] >= 0.95 * m["sent_rps"]
    return {"offered_rps": rate, "ok": ok, "p50_ms": m["p50_ms"], "p99_ms": m["p99_ms"],
            "throughput_rps": m["throughput_rps"], "errors": m["errors"], "client_behind": m["client_behind"]}


def _settle(url: str, timeout_s: float = 30.0) -> None:
    """After an overloaded point, wait until the server has drained its backlog (in-flight = only
    this scrape), so the next point does not start behind."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=timeout_s)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
        found = re.search(r"^rnn_serve_requests_in_flight (\S+)$", text, re.M)
        if found is None or float(found[1]) <= 1:
            break
        time.sleep(0.2)
    time.sleep(0.5)


def _passes(url: str, name: str, rate: float, args: argparse.Namespace, points: list[dict[str, Any]]) -> bool:
    """One load point; a failure is retried once, so one hiccup of a shared box does not end a ramp."""
    for _ in range(2):
        p = _point(url, name, rate, args)
        points.append(p)
        if p["ok"]:
            return True
        _settle(url)
    return False


def sustained(urls: dict[str, str], name: str, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """(c) for every server side by side: at each rate of a ×1.5 ramp from ``--start-rps`` each
    still-running mode runs one point (order alternating). On a shared box a failure can be noise
    but a pass cannot (past capacity p99 explodes), so a mode stops only after two consecutive
    rates fail (each retried once); its figure is its highest passing rate, refined by
    ``--bisect`` steps towards the next failing rate."""
    before = {mode: _stats(url, name) for mode, url in urls.items()}
    state: dict[str, dict[str, Any]] = {m: {"good": 0.0, "bad": None, "fails": 0, "points": []} for m in urls}
    rate, flip = args.start_rps, False
    while rate <= args.max_rps and any(st["fails"] < 2 for st in state.values()):
        for mode in (list(urls)[::-1] if flip else list(urls)):
            st = state[mode]
            if st["fails"] >= 2:
                continue
            if _passes(urls[mode], name, rate, args, st["points"]):
                st["good"], st["fails"], st["bad"] = rate, 0, None
            else:
                st["fails"] += 1
                st["bad"] = st["bad"] or rate
        rate, flip = round(rate * 1.5), not flip
    for _ in range(args.bisect):
        for mode, st in state.items():
            if st["bad"] is None:
                continue
            mid = round((st["good"] + st["bad"]) / 2)
            if mid in (st["good"], st["bad"]):
                continue
            if _passes(urls[mode], name, mid, args, st["points"]):
                st["good"] = mid
            else:
                st["bad"] = mid
    out = {}
    for mode, st in state.items():
        rows0, runs0 = before[mode]
        rows1, runs1 = _stats(urls[mode], name)
        best = [p for p in st["points"] if p["offered_rps"] == st["good"] and p["ok"]]
        out[mode] = {"sustained_rps": st["good"], "first_failing_rps": st["bad"], "at_sustained": best[-1] if best else None,
                     "mean_rows_per_run": (rows1 - rows0) / (runs1 - runs0) if runs1 > runs0 else None,
                     "client_behind_anywhere": any(p["client_behind"] for p in st["points"]),
                     "points": st["points"]}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-repository", type=Path, default=Path("models"))
    parser.add_argument("--models", nargs="*", help="default: every <task>-<cell> package in the repository")
    parser.add_argument("--out", type=Path, default=Path("out/bench"))
    parser.add_argument("--quick", action="store_true", help="short segments (≈3 min in all), for a smoke run")
    parser.add_argument("-n", type=int, default=None, help="concurrency-1 requests per model and mode")
    parser.add_argument("--duration", type=float, default=None, help="seconds per load point")
    parser.add_argument("--warmup", type=float, default=None, help="discarded seconds before each load point")
    parser.add_argument("--start-rps", type=float, default=100.0)
    parser.add_argument("--max-rps", type=float, default=5000.0)
    parser.add_argument("--bisect", type=int, default=None)
    parser.add_argument("--payloads", type=int, default=200, help="distinct real inputs per task")
    parser.add_argument("--skip-load", action="store_true", help="only (a) and (b)")
    parser.add_argument("--wrk-rounds", type=int, default=5, help="interleaved rounds of the wrk -c1 measurement")
    parser.add_argument("--wrk-seconds", type=float, default=1.0, help="seconds per wrk / raw block (wrk: whole s)")
    parser.add_argument("--no-wrk", action="store_true", help="skip the wrk -c1 measurement even if wrk is on PATH")
    args = parser.parse_args(argv)
    args.n = args.n or (200 if args.quick else 500)
    args.duration = args.duration or (1.0 if args.quick else 2.0)
    args.warmup = args.warmup if args.warmup is not None else (0.3 if args.quick else 0.7)
    args.bisect = args.bisect if args.bisect is not None else 1

    repo = args.model_repository
    names = args.models or sorted(p.name for p in repo.iterdir() if (p / MODEL_FILE).is_file())
    payloads = {}
    for name in names:
        task = task_of(name)
        payloads[name] = v1_payloads(load_examples(task, None, 0, args.payloads))
    started = time.time()
    results: dict[str, Any] = {"models": {}}
    args.out.mkdir(parents=True, exist_ok=True)
    env_off = {"RNN_SERVE_BATCHING": "off", "RNN_SERVE_LOG_LEVEL": "warning"}
    env_on = {"RNN_SERVE_LOG_LEVEL": "warning"}
    with serve(repo, env_off, args.out / "server-off.log") as off, serve(repo, env_on, args.out / "server-on.log") as on:
        urls = {"off": off, "on": on}
        conn = http.client.HTTPConnection(on.removeprefix("http://"))
        conn.request("GET", "/v1/models")
        listed = {m["name"]: m for m in json.loads(conn.getresponse().read())["models"]}
        conn.close()
        results["runtime"] = listed[names[0]].get("runtime")
        raws: dict[str, Raw] = {}
        for name in names:
            raw = raws[name] = Raw(repo, name, payloads[name])
            entry: dict[str, Any] = {"c1": concurrency_one(urls, raw, name, payloads[name], args.n)}
            entry["in_process"] = batcher_gain(repo, name, raw.inputs, Settings(), seconds=args.duration / 2.5)
            if not args.skip_load:
                both = sustained(urls, name, args)
                entry["load_off"], entry["load_on"] = both["off"], both["on"]
            results["models"][name] = entry
            print(f"[bench] {name} done at {time.time() - started:.0f} s", flush=True)
        streaming = streaming_chunk_cost(repo, n=args.n * 2, http_n=args.n // 2, url=on)
        results["streaming"] = {k: v for k, v in streaming.items() if k in names}
    wrk = None if args.no_wrk else wrk_version()
    results["c1_client"] = {"wrk": wrk, "target": "wrk" if wrk else "http.client",
                            "why": None if wrk else ("--no-wrk" if args.no_wrk else "wrk not on PATH")}
    if wrk:
        # Its own pair of servers, pinned: (c) above keeps every core; here the server gets one.
        plan = cpu_plan()
        cpus = None if plan is None else str(plan[1])
        with serve(repo, env_off, args.out / "server-off-pinned.log", cpus) as off, \
                serve(repo, env_on, args.out / "server-on-pinned.log", cpus) as on:
            for i, name in enumerate(names):
                results["models"][name]["c1_wrk"] = concurrency_one_wrk(
                    {"off": off, "on": on}, raws[name], name, payloads[name], args.wrk_rounds, args.wrk_seconds,
                    plan, seed=i)
                print(f"[bench] {name} wrk -c1 done at {time.time() - started:.0f} s", flush=True)
    results["metadata"] = {
        "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m service.bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "cpus": os.cpu_count(), "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "wall_s": round(time.time() - started, 1), "p99_bound_ms": P99_BOUND_MS,
        "settings": {k: v for k, v in vars(args).items() if k != "out"} | {"out": str(args.out)},
        "workload": "real held-out inputs via loadtest.workload (SST-2 dev / FSDD takes 5-9 / ETTh1 test)",
    }
    text = markdown(results)
    (args.out / "bench.json").write_text(json.dumps(results, indent=2, default=str))
    (args.out / "BENCHMARKS.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
