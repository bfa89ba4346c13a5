"""What one request costs the server in CPU, per path: ``python -m benchmarks.bench_cpu``.

For each hot path (the task API of each task, V2 JSON and V2 binary of each model, and with
``--paths ... grpc`` V2 over gRPC) the server, pinned to one core, takes ``wrk -c<N>`` (gRPC:
Triton's ``perf_analyzer`` at concurrency N, with the same tensors; :mod:`loadtest.perf_analyzer`
installs it on first use) on another core for a few seconds. From ``/proc`` (every
thread, user + system) and the model's Triton ``batch_stats`` it reports:

* server CPU per request, and the part of it that is ``session.run`` (the model itself);
* CPU per request **outside** ``session.run``: what HTTP, ASGI, JSON, numpy conversion,
  preprocessing, the hop to the model's thread and the response cost (the figure the serving
  layer can cut; batching cannot touch it);
* requests per second at that concurrency, and p50;
* with ``--c1``: the concurrency-1 p50 by ``wrk -c1`` against the raw ``session.run`` of the
  same tensors (in-process, on the server's core while the server idles), interleaved in blocks.

Paths alternate in rounds and the medians over rounds are reported, because this shared VM's
speed drifts by tens of percent over seconds. ``--baseline DIR`` also runs the server of another
checkout (e.g. an older commit in a ``git worktree``) on the same core, interleaved block by
block with this one, and reports both and their ratio: a before/after in one run. ``--batching-ab``
does the same for this checkout with batching on against off (the gain batching gives over HTTP).
Prints markdown; ``--json`` writes every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_load import process_cpu_s
from benchmarks.bench_vs_wrk import run_wrk, wrk_version
from loadtest import perf_analyzer
from loadtest.servers import REPO_ROOT, Server, run_server
from loadtest.v2 import v2_payloads
from loadtest.workload import Payload, load_examples, task_of, v1_payloads
from service.runtime.repository import load_model
from service.settings import Settings

PATHS = ("task", "v2-json", "v2-binary", "grpc")


def _stats(server: Server, name: str) -> tuple[int, int]:
    """(requests, session.run ns in all) of ``name`` so far."""
    import urllib.request

    with urllib.request.urlopen(f"{server.url}/v2/models/{name}/stats", timeout=10) as resp:
        doc = json.loads(resp.read())["model_stats"][0]
    return doc["inference_stats"]["success"]["count"], sum(b["compute_infer"]["ns"] for b in doc["batch_stats"])


def payloads_for(repo: Path, name: str, path: str, n: int) -> list[Payload]:
    """The bodies of one path (gRPC: the V2 JSON bodies, which perf_analyzer's input file is made of)."""
    examples = load_examples(task_of(name), None, max_items=n, seed=0)
    if path == "task":
        return v1_payloads(examples)
    return v2_payloads(examples, name, None, repo, binary=path == "v2-binary")[0]


class Client:
    """The load of one block: wrk for the HTTP paths, perf_analyzer (gRPC) for ``grpc``."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._pa_env: dict[str, str] | None = None

    def run(
        self,
        server: Server,
        name: str,
        path: str,
        payloads: list[Payload],
        concurrency: int,
        seconds: float,
        cpu: int | None,
    ) -> dict[str, float]:
        if path != "grpc":
            return run_wrk(url_for(server, name, path), payloads, concurrency, seconds, cpu)
        if server.grpc_address is None:
            raise RuntimeError("the grpc path needs servers started with gRPC on")
        if self._pa_env is None:
            self._pa_env = perf_analyzer.install()
        data = self.workdir / f"{name}.json"
        if not data.exists():
            perf_analyzer.input_data([json.loads(p.body) for p in payloads], data)
        return perf_analyzer.run(self._pa_env, server.grpc_address, name, data, concurrency, seconds, cpu)


def url_for(server: Server, name: str, path: str) -> str:
    return f"{server.url}/v1/models/{name}/predict" if path == "task" else f"{server.url}/v2/models/{name}/infer"


def measure(
    client: Client,
    server: Server,
    name: str,
    path: str,
    payloads: list[Payload],
    concurrency: int,
    seconds: float,
    client_cpu: int | None,
) -> dict[str, float]:
    """One wrk block: server CPU and session.run time per request, throughput, p50."""
    reqs0, run0 = _stats(server, name)
    cpu0 = process_cpu_s(server.process.pid)
    wrk = client.run(server, name, path, payloads, concurrency, seconds, client_cpu)
    cpu1 = process_cpu_s(server.process.pid)
    reqs1, run1 = _stats(server, name)
    done = max(1, reqs1 - reqs0)
    cpu_ms = (cpu1 - cpu0) * 1e3 / done
    run_ms = (run1 - run0) / 1e6 / done
    return {
        "cpu_ms": cpu_ms,
        "run_ms": run_ms,
        "outside_ms": cpu_ms - run_ms,
        "rps": wrk["throughput_rps"],
        "p50_ms": wrk["p50_ms"],
        "errors": wrk["errors"],
        "requests": done,
    }


@contextmanager
def only_models(repo: Path, names: list[str]) -> Iterator[Path]:
    """A model repository of just ``names`` (links into ``repo``): both servers load the same set,
    and an older checkout is not asked to load packages of a kind it predates."""
    with tempfile.TemporaryDirectory(prefix="rnn-serve-bench-") as tmp:
        for name in names:
            (Path(tmp) / name).symlink_to(repo / name)
        yield Path(tmp)


@contextmanager
def pinned_servers(
    repo: Path, server_cpu: str | None, variants: dict[str, tuple[dict[str, str], Path | None]], grpc: bool = False
) -> Iterator[dict[str, Server]]:
    """One server per variant (label → (environment, checkout; None = this one)), all on ``server_cpu``,
    with the gRPC front end when ``grpc``."""
    with ExitStack() as stack:
        yield {
            label: stack.enter_context(
                run_server(
                    repo,
                    cpus=server_cpu,
                    env=env,
                    extra_args=["--log-level", "warning"],
                    ready_path="/v2/health/ready",
                    cwd=cwd,
                    grpc=grpc,
                )
            )
            for label, (env, cwd) in variants.items()
        }


def raw_p50_ms(repo: Path, name: str, payloads: list[Payload], seconds: float, cpu: int | None) -> float:
    """Median raw ``session.run`` of the payloads' tensors, in-process, pinned like the server."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        model = load_model(repo / name, Settings(batching="off"))
        assert model.runner is not None and model.task is not None
        inputs = [model.task.preprocess(model.task.parse(p.body, p.content_type)) for p in payloads]
        times, deadline, i = [], time.perf_counter() + seconds, 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            model.runner.run(inputs[i % len(inputs)])
            times.append((time.perf_counter() - started) * 1e3)
            i += 1
        model.runner.close()
        return float(np.median(times))
    finally:
        if cpu is not None:
            os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


def _row(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median([r[k] for r in rows]) for k in rows[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-repository", type=Path, default=REPO_ROOT / "models")
    parser.add_argument("--models", nargs="*", default=["sentiment-gru", "keywords-gru", "forecast-gru"])
    parser.add_argument("--paths", nargs="*", default=list(PATHS), choices=PATHS)
    parser.add_argument("-c", "--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batching", default="on", choices=["on", "off"])
    versus = parser.add_mutually_exclusive_group()
    versus.add_argument("--baseline", type=Path, default=None, help="another checkout to compare, interleaved")
    versus.add_argument(
        "--batching-ab", action="store_true", help="this checkout with batching on against off, interleaved"
    )
    parser.add_argument("--c1", action="store_true", help="also concurrency-1 p50 (wrk -c1) vs raw session.run")
    parser.add_argument("--quick", action="store_true", help="1 round of 1 s: a smoke run")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds = 1, 1.0
    if wrk_version() is None:
        raise SystemExit("wrk is not on PATH (apt-get install wrk)")
    cpus = os.cpu_count() or 1
    server_cpu, client_cpu = (str(cpus - 1), 0) if cpus >= 2 else (None, None)
    repo = args.model_repository.resolve()
    cases = [(m, p) for m in args.models for p in args.paths]
    bodies = {case: payloads_for(repo, case[0], case[1], 50) for case in cases}
    results: dict[tuple[str, str, str], list[dict[str, float]]] = {}
    raw: dict[str, list[float]] = {m: [] for m in args.models}
    raw_inputs = {m: payloads_for(repo, m, "task", 50) for m in args.models} if args.c1 else {}
    env = {"RNN_SERVE_BATCHING": args.batching}
    variants: dict[str, tuple[dict[str, str], Path | None]] = {"this": (env, None)}
    if args.baseline is not None:
        variants["baseline"] = (env, args.baseline)
    if args.batching_ab:
        variants = {"on": ({"RNN_SERVE_BATCHING": "on"}, None), "off": ({"RNN_SERVE_BATCHING": "off"}, None)}
    with (
        tempfile.TemporaryDirectory(prefix="bench-cpu-") as workdir,
        only_models(repo, args.models) as served,
        pinned_servers(served, server_cpu, variants, grpc="grpc" in args.paths) as servers,
    ):
        client = Client(Path(workdir))
        for server in servers.values():
            for case in cases:  # warm-up, discarded
                measure(client, server, *case, bodies[case], args.concurrency, 1.0, client_cpu)
        for _ in range(args.rounds):
            for case in cases:
                for label, server in servers.items():  # side by side, block by block
                    row = measure(client, server, *case, bodies[case], args.concurrency, args.seconds, client_cpu)
                    if args.c1:
                        row["c1_p50_ms"] = client.run(server, *case, bodies[case], 1, args.seconds, client_cpu)[
                            "p50_ms"
                        ]
                    results.setdefault((label, *case), []).append(row)
            if args.c1:
                for m in args.models:
                    raw[m].append(
                        raw_p50_ms(
                            repo,
                            m,
                            raw_inputs[m],
                            args.seconds / 2,
                            int(server_cpu) if server_cpu is not None else None,
                        )
                    )
    print(
        f"server on CPU {server_cpu}, wrk -t1 -c{args.concurrency} on CPU {client_cpu}"
        + (f" (gRPC: perf_analyzer, concurrency {args.concurrency})" if "grpc" in args.paths else "")
        + "; "
        + ("batching on vs off" if args.batching_ab else f"batching {args.batching}")
        + f"; {args.rounds} rounds x {args.seconds:g} s; medians over rounds"
        + (f"; baseline {args.baseline}, interleaved" if args.baseline else "")
    )
    head = (
        "| model | path | server | CPU / request (ms) | session.run / request (ms) | outside session.run (ms) | "
        "req/s | p50 (ms) |"
    )
    if args.c1:
        head += " c=1 p50 (ms) | raw session.run p50 (ms) | c=1 p50 − raw (ms) |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    summary: dict[str, Any] = {}
    for case in cases:
        for label in servers:
            row = _row(results[(label, *case)])
            line = (
                f"| {case[0]} | {case[1]} | {label} | {row['cpu_ms']:.3f} | {row['run_ms']:.3f} | "
                f"{row['outside_ms']:.3f} | {row['rps']:.0f} | {row['p50_ms']:.3f} |"
            )
            if args.c1:
                row["raw_p50_ms"] = statistics.median(raw[case[0]])
                line += (
                    f" {row['c1_p50_ms']:.3f} | {row['raw_p50_ms']:.3f} | {row['c1_p50_ms'] - row['raw_p50_ms']:+.3f} |"
                )
            print(line)
            summary[f"{label} {case[0]} {case[1]}"] = {**row, "rounds": results[(label, *case)]}
        if len(servers) == 2:
            first, second = servers
            this, before = _row(results[(first, *case)]), _row(results[(second, *case)])
            print(
                f"| {case[0]} | {case[1]} | {first} / {second} | {this['cpu_ms'] / before['cpu_ms']:.2f}× | | "
                f"{this['outside_ms'] / before['outside_ms']:.2f}× | {this['rps'] / before['rps']:.2f}× | "
                f"{this['p50_ms'] / before['p50_ms']:.2f}× |" + (" | | |" if args.c1 else "")
            )
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
