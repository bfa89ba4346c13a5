"""Batching's gain over HTTP as a function of the model's own run time: ``python -m benchmarks.bench_batching_curve``.

Batching can only shrink the model's part of a request; the serving layer's fixed Python cost per
request is untouched. So the gain at saturation should grow with the share of a request that is
``session.run``. To show the curve on one task with everything else equal, this builds the
committed package (default ``keywords-gru``) at several hidden sizes: the same net as training
builds, random weights (a run's time does not depend on the values), exported the way
``rnn-serve export`` exports. For each size it reports the raw one-row ``session.run`` p50, and
throughput with batching off and on: the server pinned to the last CPU, ``wrk -c<N>`` pinned to
CPU 0, the same bodies, off and on interleaved over rounds, medians. It also reports the mean rows
per ``session.run`` with batching on (from the V2 statistics), and what batching buys inside the
model alone: 8 one-row runs against one 8-row run, in-process. Needs torch (the dev install) and
``wrk``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.bench_cpu import payloads_for, raw_p50_ms, url_for
from benchmarks.bench_vs_wrk import run_wrk, wrk_version
from export.nets import parameter_count
from export.onnx_export import to_onnx
from export.train import build_model, task_config
from loadtest.servers import REPO_ROOT, Server, run_server
from service.package import MODEL_FILE, sha256_file
from service.runtime.repository import load_model
from service.settings import Settings

#: the net's input size per task, as the committed packages were trained (n_mels / variables)
_SHAPES = {"keywords": {"n_mels": 40}, "forecast": {"n_vars": 7, "horizon": 96}}
_EXAMPLES = {"keywords": (1, 98, 40), "forecast": (1, 96, 7)}
#: rows of the in-process batched run the model's own speed-up is measured at
ROWS = 8


def package_at(source: Path, hidden: int, dest: Path) -> Path:
    """``source`` (a committed package) with its net rebuilt at ``hidden`` units, random weights.
    The streaming step model is dropped: it was exported at the original size."""
    meta = json.loads((source / "model.json").read_text())
    task, cell = meta["task"], meta["cell"]
    shutil.copytree(source, dest)
    torch.manual_seed(0)
    net = build_model(task, cell, task_config(task, hidden=hidden), _SHAPES[task])
    to_onnx(net, task, (torch.zeros(_EXAMPLES[task]),), dest / MODEL_FILE)
    meta.update(
        onnx_sha256=sha256_file(dest / MODEL_FILE),
        onnx_bytes=(dest / MODEL_FILE).stat().st_size,
        parameter_count=parameter_count(net),
        streaming=None,
        description=f"{meta['description']} — rebuilt at hidden {hidden}, random weights (benchmark)",
    )
    (dest / "model.json").write_text(json.dumps(meta, indent=2))
    return dest


def model_speedup(repo: Path, name: str, rows: int, runs: int) -> float:
    """What batching can buy inside ``session.run``: ``rows`` one-row runs over one ``rows``-row
    run, medians of ``runs`` interleaved pairs on the same inputs (the ceiling of the HTTP gain)."""
    model = load_model(repo / name, Settings(batching="off"))
    assert model.runner is not None and model.task is not None
    payload = payloads_for(repo, name, "task", 1)[0]
    one = model.task.preprocess(model.task.parse(payload.body, payload.content_type))
    many = {k: np.concatenate([v] * rows) for k, v in one.items()}
    singles, batched = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        model.runner.run(one)
        t1 = time.perf_counter()
        model.runner.run(many)
        singles.append(t1 - t0)
        batched.append(time.perf_counter() - t1)
    model.runner.close()
    return rows * statistics.median(singles) / statistics.median(batched)


def measure(repo: Path, name: str, args: argparse.Namespace, server_cpu: str | None) -> dict[str, Any]:
    """Raw one-row p50, then batching off vs on under ``wrk`` (interleaved rounds), one size."""
    client_cpu = 0 if server_cpu is not None else None
    raw = raw_p50_ms(repo, name, payloads_for(repo, name, "task", 32), 2.0, int(server_cpu) if server_cpu else None)
    speedup = model_speedup(repo, name, ROWS, 50)
    bodies = payloads_for(repo, name, args.path, 64)
    runs: dict[str, list[float]] = {"off": [], "on": []}
    with ExitStack() as stack:
        servers: dict[str, Server] = {
            mode: stack.enter_context(
                run_server(repo, cpus=server_cpu, env={"RNN_SERVE_BATCHING": mode}, ready_path="/v2/health/ready")
            )
            for mode in runs
        }
        for _ in range(args.rounds):
            for mode in random.sample(list(runs), 2):
                res = run_wrk(
                    url_for(servers[mode], name, args.path), bodies, args.concurrency, args.seconds, client_cpu
                )
                if res["errors"] or res["socket_errors"]:
                    raise RuntimeError(f"{name} batching {mode}: wrk saw errors: {res}")
                runs[mode].append(res["throughput_rps"])
        stats = _stats(servers["on"], name)
    off, on = statistics.median(runs["off"]), statistics.median(runs["on"])
    return {
        "raw_ms": raw,
        "model_speedup": speedup,
        "off_rps": off,
        "on_rps": on,
        "gain": on / off,
        "rows_per_run": stats,
    }


def _stats(server: Server, name: str) -> float:
    """Mean rows per ``session.run`` so far (V2 statistics: inferences / executions)."""
    with urllib.request.urlopen(f"{server.url}/v2/models/{name}/stats", timeout=10) as resp:
        doc = json.loads(resp.read())["model_stats"][0]
    return float(doc["inference_count"]) / max(int(doc["execution_count"]), 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-repository", type=Path, default=REPO_ROOT / "models")
    parser.add_argument(
        "--model", default="keywords-gru", choices=[f"{t}-{c}" for t in _SHAPES for c in ("lstm", "gru")]
    )
    parser.add_argument("--hidden", type=int, nargs="+", default=[32, 128, 256, 512])
    parser.add_argument("--path", choices=["task", "v2-json", "v2-binary"], default="v2-json")
    parser.add_argument("-c", "--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if wrk_version() is None:
        parser.error("wrk is not on PATH (apt-get install wrk)")
    cpus = os.cpu_count() or 1
    server_cpu = str(cpus - 1) if cpus >= 2 else None
    results: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="batching-curve-") as tmp:
        for hidden in args.hidden:
            repo = Path(tmp) / f"h{hidden}"
            package_at(args.model_repository / args.model, hidden, repo / args.model)
            results[hidden] = measure(repo, args.model, args, server_cpu)
    print(
        f"`python -m benchmarks.bench_batching_curve --model {args.model}` — {args.path}, wrk -c{args.concurrency}, "
        f"server on CPU {server_cpu}, {args.rounds} rounds × {args.seconds:.0f} s, medians; random weights\n"
    )
    print(
        f"| hidden | raw session.run p50, 1 row (ms) | in-process speed-up, {ROWS} rows in one run | "
        "batching off req/s | on req/s | on / off | rows per run (on) |"
    )
    print("|---|---|---|---|---|---|---|")
    for hidden, r in results.items():
        print(
            f"| {hidden} | {r['raw_ms']:.3f} | {r['model_speedup']:.2f} | {r['off_rps']:.0f} | {r['on_rps']:.0f} | "
            f"{r['gain']:.2f} | {r['rows_per_run']:.1f} |"
        )
    if args.json:
        args.json.write_text(json.dumps({str(k): v for k, v in results.items()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
