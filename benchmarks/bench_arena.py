"""onnxruntime's CPU memory arena, on vs off: what it buys in latency, what it costs in memory.

``python -m benchmarks.bench_arena [--models sentiment-gru keywords-gru] [--quick]``

The figures behind the docstring of ``service/runtime/sessions.py``, which turns the arena on by
default. For each model, sessions opened with ``open_session(path, SessionConfig(cpu_mem_arena=…))``:

* latency: the median ``session.run`` of the task's short warm-up example, and of one large legal
  request (``max_request_rows`` rows × the model's ``max_sequence_length`` steps: [64, 256] tokens
  for sentiment), arena on and off in one process, runs alternating so drift hits both alike;
* memory: the process RSS after opening the session (and one short run), after 5 large legal
  requests, and after one [1, 100000] input (one row of 100,000 steps: the peak a long input
  leaves behind). Each setting runs in its own fresh process, because RSS is per process: an
  arena's retained blocks would otherwise be counted for both settings. These processes run side
  by side, before the latency runs (nothing in them is timed).

Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import onnxruntime as ort

from loadtest.servers import REPO_ROOT
from service.package import MODEL_FILE, read_package
from service.runtime.runner import Tensors
from service.runtime.sessions import SessionConfig, open_session
from service.settings import Settings
from service.tasks import Task, task_for

HUGE_STEPS = 100_000
LARGE_REQUESTS = 5


def _task(folder: Path) -> Task:
    return task_for(read_package(folder), folder, Settings().max_request_rows)


def _inputs(task: Task) -> dict[str, Tensors]:
    """The short, large (legal) and huge inputs of one model, built by the task itself."""
    return {
        "short": task.example_inputs(),
        "large": task.probe_inputs(task.max_request_rows, task.max_sequence_length),
        "huge": task.probe_inputs(1, HUGE_STEPS),
    }


def _shape(inputs: Tensors) -> list[int]:
    """[rows, steps] of an input (its largest tensor's first two axes)."""
    return list(max(inputs.values(), key=lambda a: a.size).shape[:2])


def rss_mb(pid: int | str = "self") -> float:
    """A process's resident set size now (``VmRSS``), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status (Linux only)")


def memory_child(folder: Path, arena: bool) -> dict[str, float]:
    """RSS after load, after ``LARGE_REQUESTS`` large requests, after one huge one (this process)."""
    task = _task(folder)
    inputs = _inputs(task)
    session = open_session(folder / MODEL_FILE, SessionConfig(cpu_mem_arena=arena))
    session.run(None, inputs["short"])
    out = {"load": rss_mb()}
    for _ in range(LARGE_REQUESTS):
        session.run(None, inputs["large"])
    out["large"] = rss_mb()
    session.run(None, inputs["huge"])
    out["huge"] = rss_mb()
    return out


def start_memory(folder: Path, arena: bool) -> subprocess.Popen[str]:
    """:func:`memory_child` in a fresh interpreter, so no other session's memory is counted."""
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.bench_arena",
        "--memory-child",
        "on" if arena else "off",
        "--model-repository",
        str(folder.parent.resolve()),
        "--models",
        folder.name,
    ]
    return subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def memory_result(proc: subprocess.Popen[str], what: str) -> dict[str, float]:
    stdout, stderr = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{what}: exit {proc.returncode}\n{stderr}")
    result: dict[str, float] = json.loads(stdout.splitlines()[-1])
    return result


def latency(folder: Path, runs: int) -> dict[bool, dict[str, float]]:
    """Median µs of ``session.run`` per setting: ``runs`` short and ``runs // 20`` large inputs,
    the two sessions alternating run by run."""
    inputs = _inputs(_task(folder))
    sessions: dict[bool, ort.InferenceSession] = {
        arena: open_session(folder / MODEL_FILE, SessionConfig(cpu_mem_arena=arena)) for arena in (False, True)
    }
    out: dict[bool, dict[str, float]] = {arena: {} for arena in sessions}
    for kind, n in (("short", runs), ("large", max(3, runs // 20))):
        samples: dict[bool, list[float]] = {arena: [] for arena in sessions}
        for i in range(n + 2):  # the first two rounds warm up
            for arena, session in sessions.items():
                started = time.perf_counter()
                session.run(None, inputs[kind])
                if i >= 2:
                    samples[arena].append((time.perf_counter() - started) * 1e6)
        for arena, values in samples.items():
            out[arena][kind] = statistics.median(values)
    return out


def table(folders: list[Path], runs: int) -> str:
    inputs = {f.name: _inputs(_task(f)) for f in folders}
    lines = [
        "| model | arena | session.run p50, short input µs | p50, large input ms | RSS after load MB "
        f"| RSS after {LARGE_REQUESTS} large MB | RSS after 1 huge MB | short / large / huge input |",
        "|---|---|---|---|---|---|---|---|",
    ]
    children = {(f.name, arena): start_memory(f, arena) for f in folders for arena in (False, True)}
    rss = {key: memory_result(proc, f"{key[0]} (arena {key[1]})") for key, proc in children.items()}
    for folder in folders:
        shapes = " / ".join(str(_shape(inputs[folder.name][k])) for k in ("short", "large", "huge"))
        lat = latency(folder, runs)
        for arena in (False, True):
            mb = rss[folder.name, arena]
            lines.append(
                f"| {folder.name} | {'on' if arena else 'off'} | {lat[arena]['short']:.1f} "
                f"| {lat[arena]['large'] / 1e3:.2f} | {mb['load']:.0f} | {mb['large']:.0f} "
                f"| {mb['huge']:.0f} | {shapes} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-repository", type=Path, default=Path("models"))
    parser.add_argument("--models", nargs="*", default=["sentiment-gru", "keywords-gru"])
    parser.add_argument("--runs", type=int, default=2000, help="timed short runs per setting (large: runs / 20)")
    parser.add_argument("--quick", action="store_true", help="100 short runs (a smoke run)")
    parser.add_argument("--memory-child", choices=["on", "off"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    folders = [args.model_repository / name for name in args.models]
    if args.memory_child:
        print(json.dumps(memory_child(folders[0], args.memory_child == "on")))
        return 0
    runs = 100 if args.quick else args.runs
    print(
        f"onnxruntime {ort.__version__}; {runs} short runs per setting, interleaved; "
        f"memory: one fresh process per model and setting"
    )
    print(table(folders, runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
