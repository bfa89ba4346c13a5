"""Where a loaded server's CPU goes: ``python -m benchmarks.profile_server``.

Starts ``rnn-serve serve`` (one worker, pinned to the last CPU where there are two), drives one
hot path with ``wrk -c<N>`` from the other CPU, and samples the server with ``py-spy`` (all threads,
native frames off) for the run. Writes the flame graph (SVG) and the collapsed stacks, and prints
the functions holding the most samples, inclusive, as a share of all samples of the process: the
figure behind each lever in ``docs/performance.md``. Needs ``py-spy`` (a dev dependency) and
``wrk``, and ptrace rights over the server (root, or ``kernel.yama.ptrace_scope=0``).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks.bench_cpu import payloads_for, url_for
from benchmarks.bench_vs_wrk import run_wrk
from loadtest.servers import REPO_ROOT, run_server

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def shares(collapsed: str) -> tuple[collections.Counter[str], collections.Counter[str], int]:
    """Per ``function (file)``: samples on the stack (inclusive) and at its top (self), and the
    total, from py-spy's raw (collapsed) output: one ``frame;frame;... count`` line per stack."""
    total = 0
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        total += int(count)
        keys = []
        for frame in stack.split(";"):
            m = _FRAME.match(frame)
            keys.append(f"{m['func']} ({m['file']})" if m else frame)
        for key in set(keys):  # recursion counts once per stack
            inclusive[key] += int(count)
        own[keys[-1]] += int(count)
    return inclusive, own, total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-repository", type=Path, default=REPO_ROOT / "models")
    parser.add_argument("--model", default="keywords-gru")
    parser.add_argument("--path", choices=["task", "v2-json", "v2-binary"], default="v2-json")
    parser.add_argument("-c", "--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--gil",
        action="store_true",
        help="only samples of the thread holding the GIL (py-spy --gil): CPU the "
        "interpreter spends, without time waiting to take the GIL back",
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "out" / "profile")
    args = parser.parse_args(argv)
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is None or shutil.which("wrk") is None:
        parser.error("needs py-spy (pip install py-spy) and wrk (apt-get install wrk) on PATH")
    args.out.mkdir(parents=True, exist_ok=True)
    cpus = os.cpu_count() or 1
    server_cpu, client_cpu = (str(cpus - 1), 0) if cpus >= 2 else (None, None)
    stem = args.out / f"{args.model}-{args.path}{'-gil' if args.gil else ''}"
    with run_server(args.model_repository, cpus=server_cpu) as server:
        bodies = payloads_for(args.model_repository, args.model, args.path, 64)
        url = url_for(server, args.model, args.path)
        run_wrk(url, bodies, args.concurrency, 2, client_cpu)  # warm up
        record = [
            spy,
            "record",
            "--pid",
            str(server.process.pid),
            "--duration",
            str(round(args.seconds)),
            "--rate",
            "250",
            "--threads",
            "--nonblocking",
        ]
        svg = subprocess.Popen(
            [*record, "--format", "flamegraph", "--output", f"{stem}.svg"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        raw = subprocess.Popen(
            [*record, "--format", "raw", "--output", f"{stem}.txt"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        load = run_wrk(url, bodies, args.concurrency, args.seconds + 1, client_cpu)
        for proc in (svg, raw):
            _, err = proc.communicate(timeout=args.seconds + 60)
            if proc.returncode != 0:
                raise RuntimeError(f"py-spy failed: {err.decode(errors='replace')}")
    print(
        f"`python -m benchmarks.profile_server --model {args.model} --path {args.path}`: wrk -c{args.concurrency}, "
        f"{load['throughput_rps']:.0f} req/s while sampled; flame graph {stem}.svg\n"
    )
    inclusive, own, total = shares(Path(f"{stem}.txt").read_text())
    print("Where the samples end (self time), share of all the server's samples:\n")
    print("| function (file) | self |\n|---|---|")
    for func, count in own.most_common(args.top):
        print(f"| `{func}` | {count / total:.1%} |")
    print("\nThe service's own functions, inclusive (everything they call):\n")
    print("| function (file) | inclusive |\n|---|---|")
    ours = [(f, c) for f, c in inclusive.most_common() if "/service/" in f or "thread (" in f]
    for func, count in ours[: args.top]:
        print(f"| `{func.replace(str(REPO_ROOT) + '/', '')}` | {count / total:.1%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
