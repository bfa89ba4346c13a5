"""``python -m benchmarks.peers [--quick] [--models forecast-gru keywords-gru] [--rounds N]``

Per model: every framework is started on that one model, pinned to the last CPU; each must
answer 5 bodies as raw onnxruntime does (else the run aborts); after a discarded warm-up block
each, rounds of ``wrk`` blocks (c=1, c=8, c=32; wrk on CPU 0) run, each concurrency through
every framework in a freshly shuffled order, and the raw ``session.run`` once per round while
the servers idle; then the load tester, open loop, at half the slowest framework's c=8 rate, in
shuffled rounds again.
Prints markdown and writes ``out/peers/PEERS.md`` and ``out/peers/peers.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import shlex
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import onnxruntime

from benchmarks.bench_vs_wrk import wrk_version
from benchmarks.peers import measure, report, venvs
from benchmarks.peers.servers import LABELS, Running, start
from loadtest.servers import REPO_ROOT

OUT = REPO_ROOT / "out" / "peers"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.peers", description=__doc__.split("\n\n")[1])
    p.add_argument("--models", nargs="+", default=["forecast-gru", "keywords-gru"])
    p.add_argument("--model-repository", type=Path, default=REPO_ROOT / "models")
    p.add_argument("--frameworks", nargs="+", default=list(LABELS), choices=list(LABELS))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=2.0, help="length of one wrk block")
    p.add_argument("--open-loop-seconds", type=float, default=4.0)
    p.add_argument("--bodies", type=int, default=20, help="distinct V2 JSON bodies, sent round-robin")
    p.add_argument("--seed", type=int, default=0, help="of the shuffled framework order")
    p.add_argument("--quick", action="store_true", help="1 round of 1-s blocks: a smoke run (≈1 min a model)")
    p.add_argument("--output", type=Path, default=OUT)
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds, args.open_loop_seconds = 1, 1.0, 2.0
    return args


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_model(
    model_dir: Path, args: argparse.Namespace, server_cpu: int | None, client_cpu: int | None, workdir: Path
) -> tuple[dict[str, report.Rounds], list[float], float, dict[str, float]]:
    """(per-framework rounds, raw session.run per round, the open-loop rate, idle CPU per framework)."""
    model, rng = model_dir.name, random.Random(args.seed)
    payloads, source = measure.bodies(model_dir, args.bodies)
    _log(f"{model}: {len(payloads)} V2 JSON bodies from {source}")
    expected = measure.raw_outputs(model_dir, payloads[:5])
    cpu = None if server_cpu is None else str(server_cpu)
    with ExitStack() as stack:
        servers: dict[str, Running] = {}
        for fw in args.frameworks:
            servers[fw] = stack.enter_context(start(fw, model_dir, cpu, workdir))
            diff = measure.check_outputs(servers[fw], model, payloads[:5], expected)
            _log(f"{model} {fw}: ready at {servers[fw].url}, 5 outputs within {diff:.1e} of raw onnxruntime")
        for server in servers.values():  # warm-up, discarded
            measure.wrk_block(server, model, payloads, 8, 1.0, client_cpu)
        idle = {fw: measure.idle_cpu_fraction(s, 0.5) for fw, s in servers.items()}
        rounds: dict[str, report.Rounds] = {fw: [] for fw in servers}
        raw: list[float] = []
        for rnd in range(args.rounds):
            raw.append(measure.raw_run_ms(model_dir, payloads, args.seconds / 2, server_cpu))
            rows: dict[str, dict[str, float]] = {fw: {} for fw in servers}
            for c in (1, 8, 32):  # each concurrency through every framework, so a burst of load hits all alike
                order = list(servers)
                rng.shuffle(order)
                for fw in order:
                    res = measure.wrk_block(servers[fw], model, payloads, c, args.seconds, client_cpu)
                    rows[fw] |= {f"c{c}_p50_ms": res["p50_ms"], f"c{c}_rps": res["throughput_rps"]}
                    rows[fw] |= {f"c{c}_p99_ms": res["p99_ms"], f"c{c}_cpu_ms": res["cpu_ms"]}
                    rows[fw][f"c{c}_errors"] = res["errors"]
            for fw, row in rows.items():
                rounds[fw].append(row)
                _log(f"{model} round {rnd} {fw}: {json.dumps({k: round(v, 3) for k, v in row.items()})}")
        rate = 0.5 * min(report.medians(r)["c8_rps"] for r in rounds.values())
        for rnd in range(args.rounds):
            order = list(servers)
            rng.shuffle(order)
            for fw in order:
                ol = measure.open_loop(
                    servers[fw], model, model_dir.parent, rate, args.open_loop_seconds, args.bodies, client_cpu
                )
                rounds[fw][rnd] |= {f"ol_{k}": v for k, v in ol.items()}
                _log(f"{model} round {rnd} {fw}: open loop {rate:.0f} req/s: {ol}")
    return rounds, raw, rate, idle


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if wrk_version() is None:
        raise SystemExit("wrk is not on PATH (Debian: apt-get install wrk)")
    peers = {"mlserver": "mlserver", "mlserver-batching": "mlserver", "litserve": "litserve"}
    missing = sorted({peers[f] for f in args.frameworks if f in peers} & set(venvs.missing()))
    if missing:
        raise SystemExit(f"no up-to-date venv for {', '.join(missing)}: run `python -m benchmarks.peers.venvs`")
    cpus = sorted(os.sched_getaffinity(0))
    client_cpu, server_cpu = (cpus[0], cpus[-1]) if len(cpus) >= 2 else (None, None)
    started, load0 = time.monotonic(), os.getloadavg()
    results: report.Results = {}
    raw: dict[str, list[float]] = {}
    rates: dict[str, float] = {}
    idle: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="peers-") as tmp:
        for model in args.models:
            model_dir = (args.model_repository / model).resolve()
            results[model], raw[model], rates[model], idle[model] = run_model(
                model_dir, args, server_cpu, client_cpu, Path(tmp)
            )
    summary = report.summarise(results, raw)
    versions = {p: venvs.versions(p) for p in sorted({peers[f] for f in args.frameworks if f in peers})}
    command = "python -m benchmarks.peers " + shlex.join(argv if argv is not None else sys.argv[1:])
    header = (
        f"Command: `{command.strip()}` — {datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')}, "
        f"{len(cpus)} CPUs, load average {[round(x, 2) for x in load0]} at the start and "
        f"{[round(x, 2) for x in os.getloadavg()]} at the end, {time.monotonic() - started:.0f} s.\n"
        f"Servers on CPU {server_cpu} (taskset), `{wrk_version()}` -t1 on CPU {client_cpu}; {args.rounds} rounds × "
        f"{args.seconds:g} s blocks, each concurrency through every framework in a shuffled order; open loop: the load "
        f"tester at half the slowest c=8 rate, {args.open_loop_seconds:g} s per round; medians over rounds. "
        f"{args.bodies} V2 JSON bodies per model, byte-identical for every framework; onnxruntime "
        f"{onnxruntime.__version__} everywhere. Peers: {json.dumps(versions)}. Idle CPU share of each "
        f"server: {json.dumps({m: {f: round(v, 3) for f, v in d.items()} for m, d in idle.items()})}."
    )
    text = report.report(summary, rates, header + "\n" + report.errors(results))
    print(text)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "PEERS.md").write_text(text)
    doc = report.as_json(summary, results, command=command, rates=rates, raw_ms=raw, idle=idle, versions=versions)
    (args.output / "peers.json").write_text(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
