"""Triton's ``perf_analyzer``, installed on first use: the C++ V2 client the tests and the gRPC
path of ``benchmarks.bench_cpu`` drive the server with.

It ships in the ``tritonclient[all]`` wheel (``bin/perf_analyzer``), which goes into a venv of its
own under ``.cache/perf_analyzer/`` (gitignored; about a minute, once), with
``nvidia-cuda-runtime-cu12`` for the ``libcudart`` it links (no GPU is used). The system library
``libb64-0d`` comes from ``make system-deps``. Anything missing is an :class:`Unavailable` that
says what, so a caller can skip or stop with the reason.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from loadtest.servers import REPO_ROOT

VERSION = "2.41.0"
VENV = REPO_ROOT / ".cache" / "perf_analyzer" / "venv"
BINARY = VENV / "bin" / "perf_analyzer"
CUDA_LIB = (
    VENV
    / "lib"
    / f"python{sys.version_info.major}.{sys.version_info.minor}"
    / "site-packages"
    / "nvidia"
    / "cuda_runtime"
    / "lib"
)
INSTALLED = VENV / f".installed-{VERSION}"


class Unavailable(RuntimeError):
    """perf_analyzer cannot be installed or cannot start here (the message says why)."""


def install() -> dict[str, str]:
    """The environment perf_analyzer runs in, installing it first when needed (a half-made venv,
    without its marker, is made again)."""
    if not INSTALLED.exists():
        steps = [
            [sys.executable, "-m", "venv", "--clear", str(VENV)],
            [str(VENV / "bin" / "pip"), "install", "-q", f"tritonclient[all]=={VERSION}", "nvidia-cuda-runtime-cu12"],
        ]
        for step in steps:
            proc = subprocess.run(step, capture_output=True, text=True, timeout=900, check=False)
            if proc.returncode != 0:
                raise Unavailable(f"cannot install perf_analyzer ({' '.join(step[-3:])}): {proc.stderr.strip()[-500:]}")
        INSTALLED.touch()
    env = {**os.environ, "LD_LIBRARY_PATH": f"{CUDA_LIB}:{os.environ.get('LD_LIBRARY_PATH', '')}"}
    proc = subprocess.run([str(BINARY), "--version"], capture_output=True, text=True, env=env, timeout=60, check=False)
    if "error while loading shared libraries" in proc.stderr:
        raise Unavailable(f"perf_analyzer cannot start (make system-deps installs libb64-0d): {proc.stderr.strip()}")
    return env


def input_data(bodies: list[dict[str, Any]], path: Path) -> Path:
    """V2 JSON request bodies (one row each) as perf_analyzer's ``--input-data`` file: the same
    tensors the HTTP paths send, without the batch axis (perf_analyzer adds it), so every path of a
    benchmark carries the same inputs."""
    steps = [{t["name"]: {"content": t["data"], "shape": t["shape"][1:]} for t in body["inputs"]} for body in bodies]
    path.write_text(json.dumps({"data": steps}))
    return path


def run(
    env: dict[str, str], address: str, model: str, data: Path, concurrency: int, seconds: float, cpu: int | None
) -> dict[str, float]:
    """One perf_analyzer block over gRPC at ``concurrency`` (three windows of about ``seconds`` / 3,
    any spread accepted: a fixed load, not a search for stability), pinned to ``cpu``: client
    throughput and p50, parsed from its report."""
    window_ms = max(100, round(seconds * 1000 / 3))
    cmd = [
        str(BINARY),
        *("-m", model, "-i", "grpc", "-u", address, "--input-data", str(data)),
        *("--concurrency-range", str(concurrency), "-p", str(window_ms), "--percentile", "50"),
        *("--max-trials", "3", "--stability-percentage", "999"),
    ]
    if cpu is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(cpu), *cmd]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 120, check=False)
    throughput = re.search(r"Throughput: ([\d.]+) infer/sec", done.stdout)
    p50 = re.search(r"p50 latency: (\d+) usec", done.stdout)
    if done.returncode != 0 or throughput is None or p50 is None:
        raise RuntimeError(f"perf_analyzer exited with {done.returncode}:\n{done.stdout}\n{done.stderr}")
    # perf_analyzer stops at the first failed request and exits non-zero: a report means no errors
    return {"throughput_rps": float(throughput.group(1)), "p50_ms": int(p50.group(1)) / 1e3, "errors": 0}
