"""Hostile-input check of the real server: ``python -m benchmarks.bench_hostile``.

Starts ``rnn-serve serve`` on the committed models and, while a poller asks ``/v2/health/ready``
every 10 ms, sends five V2 requests with a ``tokens`` tensor of ``[1, 500000]`` (4 MB binary),
then five legal ones of ``[1, 256]`` (sentiment's longest). Reports the answers' statuses, the
server's resident memory (``VmRSS``) before and after each group, and the worst and median
``/health/ready`` latency seen while each group ran. ``--source DIR`` runs the server from another
checkout (e.g. an older commit in a ``git worktree``), so a fix can be measured before and after.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_arena import rss_mb
from loadtest.servers import REPO_ROOT, run_server


def v2_binary(tokens: np.ndarray) -> tuple[bytes, dict[str, str]]:
    raw = tokens.astype("<i8").tobytes()
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "tokens",
                    "shape": list(tokens.shape),
                    "datatype": "INT64",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ]
        }
    ).encode()
    return header + raw, {
        "Inference-Header-Content-Length": str(len(header)),
        "Content-Type": "application/octet-stream",
    }


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=120) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


class ReadyPoller:
    """Polls ``/v2/health/ready`` every 10 ms on its own thread; keeps each latency in ms."""

    def __init__(self, url: str) -> None:
        self.url = url + "/v2/health/ready"
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            with urllib.request.urlopen(self.url, timeout=60) as resp:
                resp.read()
            self.samples.append((time.perf_counter() - started) * 1e3)
            self._stop.wait(0.01)

    def __enter__(self) -> ReadyPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def group(url: str, pid: int, model: str, shape: tuple[int, int], n: int) -> dict[str, Any]:
    body, headers = v2_binary(np.ones(shape, dtype=np.int64))
    with ReadyPoller(url) as poller:
        statuses = [post(f"{url}/v2/models/{model}/infer", body, headers) for _ in range(n)]
    samples = poller.samples or [float("nan")]  # a group quicker than the first poll has no sample
    return {
        "shape": list(shape),
        "statuses": statuses,
        "rss_after_mb": round(rss_mb(pid), 1),
        "ready_worst_ms": round(max(samples), 2),
        "ready_p50_ms": round(statistics.median(samples), 2),
        "ready_polls": len(poller.samples),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-repository", type=Path, default=REPO_ROOT / "models")
    parser.add_argument("--model", default="sentiment-gru")
    parser.add_argument("--source", type=Path, default=None, help="serve from this checkout (default: this one)")
    parser.add_argument("-n", type=int, default=5, help="requests per group")
    parser.add_argument("--long", type=int, default=500_000, help="time steps of the oversized requests")
    parser.add_argument("--legal", type=int, default=256, help="time steps of the legal requests")
    args = parser.parse_args(argv)
    with run_server(
        args.model_repository.resolve(),
        ready_path="/v2/health/ready",
        cwd=args.source,
        extra_args=["--log-level", "warning"],
    ) as server:
        pid = server.process.pid
        time.sleep(1.0)
        before = round(rss_mb(pid), 1)
        oversized = group(server.url, pid, args.model, (1, args.long), args.n)
        legal = group(server.url, pid, args.model, (1, args.legal), args.n)
    print(f"server from {args.source or REPO_ROOT}; model {args.model}; {args.n} requests per group")
    print("| requests | statuses | RSS after (MB) | /v2/health/ready worst / p50 (ms) |")
    print("|---|---|---|---|")
    print(f"| (before) | | {before} | |")
    for name, g in ((f"[1, {args.long}]", oversized), (f"[1, {args.legal}]", legal)):
        print(
            f"| {name} | {sorted(set(g['statuses']))} | {g['rss_after_mb']} | "
            f"{g['ready_worst_ms']} / {g['ready_p50_ms']} ({g['ready_polls']} polls) |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
