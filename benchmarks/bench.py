"""The serving benchmark: ``python -m benchmarks.bench [--quick]`` (``make bench``).

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
    fail (each retried once after the server drained), then bisection above the best pass; at
    every point also the server's CPU per request (all its threads), the ``session.run`` time per
    request, and the load client's CPU per request (``benchmarks/bench_load.py``), which say how much
    of a request batching can save at all on this machine;
(c') the batcher alone, in-process without HTTP (``benchmarks.bench_batcher``): 32 callers, off vs on;
(d) the cost of a 1-step streaming chunk at a short and a long history (``benchmarks.bench_stream``).

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
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.bench_batcher import batcher_gain
from benchmarks.bench_c1 import Raw, concurrency_one, concurrency_one_wrk, cpu_plan
from benchmarks.bench_load import P99_BOUND_MS, sustained
from benchmarks.bench_report import markdown
from benchmarks.bench_stream import streaming_chunk_cost
from benchmarks.bench_vs_wrk import wrk_version
from loadtest.servers import Server, run_server
from loadtest.workload import load_examples, task_of, v1_payloads
from service.package import MODEL_FILE
from service.settings import Settings


@contextmanager
def serve(repo: Path, env: dict[str, str], log: Path, cpus: str | None = None) -> Iterator[Server]:
    """``rnn-serve serve`` on a free loopback port until every model is ready; stopped by PID.
    ``cpus``: a ``taskset -c`` list to pin the server to (see ``loadtest.servers.run_server``)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with run_server(repo, env=env, log_dir=log.parent, ready_path="/v2/health/ready", timeout=120, cpus=cpus) as srv:
        try:
            yield srv
        finally:
            if srv.log_path is not None:
                srv.log_path.replace(log)


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
    args.bisect = args.bisect if args.bisect is not None else 3

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
    with (
        serve(repo, env_off, args.out / "server-off.log") as off,
        serve(repo, env_on, args.out / "server-on.log") as on,
    ):
        servers = {"off": off, "on": on}
        urls = {mode: srv.url for mode, srv in servers.items()}
        conn = http.client.HTTPConnection(on.url.removeprefix("http://"))
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
                both = sustained(servers, name, args)
                entry["load_off"], entry["load_on"] = both["off"], both["on"]
            results["models"][name] = entry
            print(f"[bench] {name} done at {time.time() - started:.0f} s", flush=True)
        results["streaming"] = streaming_chunk_cost(repo, n=args.n * 2, http_n=args.n // 2, url=on.url, names=names)
    wrk = None if args.no_wrk else wrk_version()
    results["c1_client"] = {
        "wrk": wrk,
        "target": "wrk" if wrk else "http.client",
        "why": None if wrk else ("--no-wrk" if args.no_wrk else "wrk not on PATH"),
    }
    if wrk:
        # Its own pair of servers, pinned: (c) above keeps every core; here the server gets one.
        plan = cpu_plan()
        cpus = None if plan is None else str(plan[1])
        with (
            serve(repo, env_off, args.out / "server-off-pinned.log", cpus) as off,
            serve(repo, env_on, args.out / "server-on-pinned.log", cpus) as on,
        ):
            for i, name in enumerate(names):
                results["models"][name]["c1_wrk"] = concurrency_one_wrk(
                    {"off": off.url, "on": on.url},
                    raws[name],
                    name,
                    payloads[name],
                    args.wrk_rounds,
                    args.wrk_seconds,
                    plan,
                    seed=i,
                )
                print(f"[bench] {name} wrk -c1 done at {time.time() - started:.0f} s", flush=True)
    for raw in raws.values():
        raw.close()
    results["metadata"] = {
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "cpus": os.cpu_count(),
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "wall_s": round(time.time() - started, 1),
        "p99_bound_ms": P99_BOUND_MS,
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
