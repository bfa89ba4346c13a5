"""Throughput with ``--workers 1`` against ``--workers 2``: ``python -m benchmarks.bench_workers``.

Both servers run at once on the same model repository (batching at its default, unpinned: a
second worker needs a second core), and ``wrk -c<N>`` drives each in turn with the same bodies;
rounds alternate the order and the medians over rounds are compared, because this shared VM's
speed drifts. On a 2-core machine ``wrk`` shares the cores with the servers, so the ratio is what
a second process buys when the client is local, not the ceiling on a dedicated host. Prints
markdown; ``--json`` writes every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks.bench_cpu import payloads_for, url_for
from benchmarks.bench_vs_wrk import run_wrk, wrk_version
from loadtest.servers import REPO_ROOT, run_server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-repository", type=Path, default=REPO_ROOT / "models")
    parser.add_argument("--models", nargs="+", default=["forecast-gru", "keywords-gru", "sentiment-gru"])
    parser.add_argument("--path", choices=["task", "v2-json", "v2-binary"], default="task")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if wrk_version() is None:
        parser.error("wrk is not on PATH (apt-get install wrk)")
    counts = (1, 2)
    runs: dict[str, dict[int, list[dict[str, float]]]] = {m: {w: [] for w in counts} for m in args.models}
    with ExitStack() as stack:
        servers = {
            w: stack.enter_context(run_server(args.model_repository, env={"RNN_SERVE_WORKERS": str(w)}, timeout=120))
            for w in counts
        }
        bodies = {m: payloads_for(args.model_repository, m, args.path, 64) for m in args.models}
        for _ in range(args.rounds):
            for model in args.models:
                for w in random.sample(counts, len(counts)):
                    url = url_for(servers[w], model, args.path)
                    res = run_wrk(url, bodies[model], args.concurrency, args.seconds, None)
                    if res["errors"] or res["socket_errors"]:
                        raise RuntimeError(f"{model}, {w} worker(s): wrk saw errors: {res}")
                    runs[model][w].append(res)
    rows = [
        f"`python -m benchmarks.bench_workers` — {args.path} path, wrk -c{args.concurrency}, "
        f"{args.rounds} rounds × {args.seconds:.0f} s, {os.cpu_count()} CPUs, medians",
        "",
        "| model | 1 worker req/s | 2 workers req/s | ratio | 1 worker p50 ms | 2 workers p50 ms |",
        "|---|---|---|---|---|---|",
    ]
    summary: dict[str, Any] = {}
    for model in args.models:
        med = {
            w: {k: statistics.median(r[k] for r in runs[model][w]) for k in ("throughput_rps", "p50_ms")}
            for w in counts
        }
        summary[model] = med
        ratio = med[2]["throughput_rps"] / med[1]["throughput_rps"]
        rows.append(
            f"| {model} | {med[1]['throughput_rps']:.0f} | {med[2]['throughput_rps']:.0f} | {ratio:.2f} | "
            f"{med[1]['p50_ms']:.2f} | {med[2]['p50_ms']:.2f} |"
        )
    print("\n".join(rows))
    if args.json:
        args.json.write_text(json.dumps({"medians": summary, "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
