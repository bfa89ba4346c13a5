"""Cross-check: our closed loop against Debian's ``wrk`` on the same endpoint and concurrency.

A load tester is only trustworthy if, where the methods coincide, it agrees with an established
one. In closed-loop mode both tools keep C requests in flight and time each from its actual send,
so throughput and p50 should agree (wrk's C client is the reference; its post-hoc coordinated-
omission back-fill only touches values ≥ 2× the per-connection cycle, so p50 is unaffected).
Runs are interleaved (random order per round) and medians compared, because this machine is noisy.

    python -m benchmarks.bench_vs_wrk --model-repository models --model sentiment-gru
    python -m benchmarks.bench_vs_wrk --url http://127.0.0.1:8000 --model sentiment-gru

Without ``--url`` it starts ``rnn-serve serve`` itself. With ≥ 2 CPUs the server is pinned to the
last CPU and both clients to CPU 0 (``taskset`` / ``sched_setaffinity``), so client and server
do not steal each other's core. This is a script, not a test: wrk is not needed by the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from statistics import median

from loadtest import LoadTestConfig, run
from loadtest.config import check_target_url
from loadtest.runner import prepare
from loadtest.servers import run_server
from loadtest.workload import Payload

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def parse_wrk(text: str) -> dict[str, float]:
    """Requests/sec, the 50 %/99 % latency lines of ``wrk --latency`` output (ms) and the error counts."""
    out: dict[str, float] = {}
    rps = re.search(r"Requests/sec:\s+([0-9.]+)", text)
    if rps:
        out["throughput_rps"] = float(rps.group(1))
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(rf"^\s+{pct}%\s+([0-9.]+)(us|ms|s)\s*$", text, re.M)
        if m:
            out[key] = float(m.group(1)) * _UNITS[m.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    out["errors"] = float(errors.group(1)) if errors else 0.0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["socket_errors"] = float(sum(int(g) for g in sock.groups())) if sock else 0.0
    return out


def wrk_version() -> str | None:
    """``wrk -v``'s first line (e.g. ``wrk debian/4.1.0-3+b2 [epoll]``), None when wrk is not on PATH."""
    if shutil.which("wrk") is None:
        return None
    done = subprocess.run(["wrk", "-v"], check=False, capture_output=True, text=True, timeout=10)
    line = (done.stdout or done.stderr).strip().splitlines()
    return line[0].split(" Copyright")[0].strip() if line else "wrk"


def _wrk_script(files: list[tuple[str, dict[str, str]]]) -> str:
    """Lua that POSTs the bodies in ``files`` ((path, headers) pairs), in order, round-robin.

    The bodies are read from files when the script loads, so any bytes survive (no Lua quoting) and
    the script stays small for audio. One body: a static request, exactly what plain wrk sends. Several:
    a ``request()`` hook; wrk calls it before it stamps the send time, so it is not in the latency.
    """
    lines = ["local bodies, headers = {}, {}"]
    for path, hdrs in files:
        table = ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in hdrs.items())
        lines.append(
            f"do local f = assert(io.open({json.dumps(path)}, 'rb')); "
            f"bodies[#bodies + 1] = f:read('*a'); f:close(); headers[#headers + 1] = {{{table}}} end"
        )
    lines += ['wrk.method = "POST"', "wrk.body = bodies[1]", "for k, v in pairs(headers[1]) do wrk.headers[k] = v end"]
    if len(files) > 1:
        lines += [
            "local i = 0",
            "request = function()",
            "  i = i % #bodies + 1",
            "  return wrk.format(nil, nil, headers[i], bodies[i])",
            "end",
        ]
    return "\n".join(lines) + "\n"


def run_wrk(
    url: str, payloads: Sequence[Payload], concurrency: int, duration: float, cpu: int | None
) -> dict[str, float]:
    """``wrk -t1 -c<concurrency> --latency`` POSTing ``payloads`` round-robin to ``url`` (pinned to ``cpu``
    with ``taskset`` where both exist); parsed by ``parse_wrk``. Shared with ``benchmarks.bench``, whose
    concurrency-1 figure it produces: a C client adds far less of its own time than Python's http.client.
    wrk's duration is whole seconds (at least 1)."""
    if not payloads:
        raise ValueError("run_wrk needs at least one payload")
    with tempfile.TemporaryDirectory(prefix="wrk-") as tmp:
        files = []
        for i, payload in enumerate(payloads):
            path = Path(tmp) / f"body-{i}"
            path.write_bytes(payload.body)
            files.append((str(path), payload.headers))
        script = Path(tmp) / "post.lua"
        script.write_text(_wrk_script(files))
        cmd = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "--latency", "-s", str(script), url]
        if cpu is not None and shutil.which("taskset"):
            cmd = ["taskset", "-c", str(cpu), *cmd]
        done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=duration + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited with {done.returncode}:\n{done.stdout}\n{done.stderr}")
    parsed = parse_wrk(done.stdout)
    if "p50_ms" not in parsed or "throughput_rps" not in parsed:
        raise RuntimeError(f"could not parse wrk output:\n{done.stdout}\n{done.stderr}")
    return parsed


def _run_ours(url: str, model: str, concurrency: int, duration: float) -> dict[str, float]:
    doc = run(
        LoadTestConfig(
            url=url,
            models=[model],
            mode="closed",
            concurrency=concurrency,
            duration=duration,
            warmup=0.5,
            rounds=1,
            quiet=True,
            max_payloads=1,
        )
    )
    m = doc["models"][model]
    return {
        "throughput_rps": m["throughput_rps"],
        "p50_ms": m["p50_ms"],
        "p99_ms": m["p99_ms"],
        "errors": float(m["errors"]),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_vs_wrk", description=__doc__.split("\n\n")[0])
    p.add_argument("--url", help="an already running server (loopback); default: start one")
    p.add_argument("--model-repository", type=Path, default=Path("models"))
    p.add_argument("--model", default="sentiment-gru")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-pin", action="store_true", help="do not pin client and server to separate CPUs")
    args = p.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian: apt-get install -y wrk); nothing to compare against.", file=sys.stderr)
        return 2
    cpus = sorted(os.sched_getaffinity(0))
    pin = not args.no_pin and len(cpus) >= 2
    client_cpu, server_cpu = (cpus[0], cpus[-1]) if pin else (None, None)
    with ExitStack() as stack:
        if args.url:
            url = check_target_url(args.url)
        else:
            url = stack.enter_context(
                run_server(
                    args.model_repository,
                    ready_path="/v2/health/ready",
                    cpus=None if server_cpu is None else str(server_cpu),
                )
            ).url
        if client_cpu is not None:
            stack.callback(os.sched_setaffinity, 0, os.sched_getaffinity(0))  # a caller's process gets its CPUs back
            os.sched_setaffinity(0, {client_cpu})
        prep = prepare(LoadTestConfig(url=url, models=[args.model], max_payloads=1, seed=args.seed))
        payload, endpoint = prep.payloads[args.model][0], prep.urls[args.model]
        results: dict[str, list[dict[str, float]]] = {"wrk": [], "ours": []}
        order_rng = random.Random(args.seed)
        for rnd in range(args.rounds):
            order = ["wrk", "ours"]
            order_rng.shuffle(order)
            for tool in order:
                if tool == "wrk":
                    res = run_wrk(endpoint, [payload], args.concurrency, args.duration, client_cpu)
                else:
                    res = _run_ours(url, args.model, args.concurrency, args.duration)
                results[tool].append(res)
                print(
                    f"round {rnd} {tool:>4}: {res['throughput_rps']:8.1f} req/s  p50 {res['p50_ms']:.3f} ms  "
                    f"p99 {res['p99_ms']:.3f} ms  errors {res['errors']:.0f}",
                    flush=True,
                )
    print(
        f"\nclosed loop, concurrency {args.concurrency}, {args.duration:g} s x {args.rounds} interleaved rounds, "
        f"model {args.model}, pinned: {f'client CPU {client_cpu}, server CPU {server_cpu}' if pin else 'no'}"
    )
    print(f"| metric (median of {args.rounds}) | wrk 4.1 | rnn-serve loadtest | ours / wrk |")
    print("|---|---|---|---|")
    worst = 0.0
    for key, label in (("throughput_rps", "throughput (req/s)"), ("p50_ms", "p50 (ms)"), ("p99_ms", "p99 (ms)")):
        w, o = median(r[key] for r in results["wrk"]), median(r[key] for r in results["ours"])
        ratio = o / w if w else float("nan")
        if key != "p99_ms":
            worst = max(worst, abs(ratio - 1))
        print(f"| {label} | {w:.3f} | {o:.3f} | {ratio:.3f} |")
    verdict = "within" if worst <= 0.15 else "OUTSIDE"
    print(f"\nthroughput and p50 agree {verdict} ±15 % (largest deviation {worst:.1%}; p99 is shown, not judged)")
    return 0 if worst <= 0.15 else 1


if __name__ == "__main__":
    raise SystemExit(main())
