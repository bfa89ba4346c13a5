"""KServe V2 over gRPC vs HTTP JSON vs HTTP binary: client-side p50 at concurrency 1, same input.

One server with both front ends (pinned to the last CPU), this client pinned to the first. Per
model, one batch-1 input built from the model's metadata (a free time axis gets ``--steps``
steps) is sent ``-n`` times by each of three ``tritonclient`` paths, interleaved request by
request in a shuffled order each time, so drift on a shared machine hits all three alike:

* ``grpc``: ``tritonclient.grpc`` (protobuf, raw tensor bytes, HTTP/2);
* ``http_json``: ``tritonclient.http`` with tensors as JSON numbers both ways;
* ``http_binary``: ``tritonclient.http`` with the ``binary_tensor_data`` extension both ways.

Every answer is checked against the first gRPC answer, so a faster path that answers wrongly
cannot win. Beside each client p50 stands the p50 of the server's own ``total_ms`` (the data
plane's time, the same code on every path), and an empty call per protocol (``ServerLive``,
``GET /v2/health/live``) is interleaved too: together they show where a difference comes from.
``python -m benchmarks.bench_grpc`` prints a markdown table and writes JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import tritonclient.grpc as tgrpc
import tritonclient.http as thttp

from benchmarks.bench_c1 import cpu_plan
from loadtest.servers import run_server
from tests.triton import triton_inputs

MODES = ("grpc", "http_json", "http_binary")
#: empty calls (``ServerLive`` and ``GET /v2/health/live``): what one call costs without a model
LIVE = ("grpc_live", "http_live")
DTYPES = {"FP32": np.float32, "INT64": np.int64}


def example_inputs(metadata: dict[str, Any], steps: int, seed: int) -> dict[str, np.ndarray]:
    """One batch-1 request for a model, from its V2 metadata: -1 axes after the batch get ``steps``."""
    rng = np.random.default_rng(seed)
    out = {}
    for tensor in metadata["inputs"]:
        shape = [1, *(steps if d < 0 else d for d in tensor["shape"][1:])]
        if tensor["datatype"] == "INT64":
            out[tensor["name"]] = rng.integers(2, 100, shape).astype(np.int64)
        else:
            out[tensor["name"]] = rng.normal(0, 1, shape).astype(DTYPES[tensor["datatype"]])
    return out


#: one call: the output array and the server's own ``total_ms`` for the request
Call = Callable[[], tuple[np.ndarray, float]]


def _callers(
    grpc_address: str, http_address: str, name: str, arrays: dict[str, np.ndarray], output: str
) -> tuple[dict[str, Call], Callable[[], None]]:
    """One zero-argument call per mode (model inference) plus ``grpc_live``/``http_live`` (an empty
    call: the per-call cost of each protocol's client and server, no model involved)."""
    gc, hc = tgrpc.InferenceServerClient(grpc_address), thttp.InferenceServerClient(http_address)

    def grpc_call() -> tuple[np.ndarray, float]:
        result = gc.infer(name, triton_inputs(tgrpc, arrays))
        return result.as_numpy(output), result.get_response().parameters["total_ms"].double_param

    def http_call(binary: bool) -> tuple[np.ndarray, float]:
        wanted = [thttp.InferRequestedOutput(output, binary_data=binary)]
        result = hc.infer(name, triton_inputs(thttp, arrays, binary), outputs=wanted)
        return result.as_numpy(output), result.get_response()["parameters"]["total_ms"]

    none = np.zeros(0)
    calls: dict[str, Call] = {
        "grpc": grpc_call,
        "http_json": lambda: http_call(False),
        "http_binary": lambda: http_call(True),
        "grpc_live": lambda: (none, float(gc.is_server_live())),
        "http_live": lambda: (none, float(hc.is_server_live())),
    }

    def close() -> None:
        gc.close()
        hc.close()

    return calls, close


def measure(grpc_address: str, http_address: str, name: str, n: int, steps: int, seed: int) -> dict[str, Any]:
    """Per mode over ``n`` interleaved requests (after ``min(50, n)`` discarded ones): client p50
    and p99, and the p50 of the server's own ``total_ms`` (the data plane's time, the same code
    on every path); for the empty calls, the client p50."""
    metadata = thttp.InferenceServerClient(http_address).get_model_metadata(name)
    arrays = example_inputs(metadata, steps, seed)
    calls, close = _callers(grpc_address, http_address, name, arrays, metadata["outputs"][0]["name"])
    order_rng = random.Random(seed)
    modes = [*MODES, *LIVE]
    ms: dict[str, list[float]] = {mode: [] for mode in modes}
    server_ms: dict[str, list[float]] = {mode: [] for mode in MODES}
    want = calls["grpc"]()[0]
    warm = min(50, n)
    try:
        for i in range(n + warm):
            order_rng.shuffle(modes)
            for mode in modes:
                t0 = time.perf_counter()
                got, server_total = calls[mode]()
                elapsed = (time.perf_counter() - t0) * 1e3
                if mode in LIVE:
                    assert server_total == 1.0, f"{mode}: not live"
                else:
                    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=f"{name} {mode}")
                if i >= warm:
                    ms[mode].append(elapsed)
                    if mode in server_ms:
                        server_ms[mode].append(server_total)
    finally:
        close()
    out: dict[str, Any] = {"n": n, "shape": {k: list(v.shape) for k, v in arrays.items()}}
    for mode, values in ms.items():
        out[f"{mode}_p50_ms"] = statistics.median(values)
        if mode in server_ms:
            out[f"{mode}_p99_ms"] = float(np.percentile(values, 99))
            out[f"{mode}_server_p50_ms"] = statistics.median(server_ms[mode])
    return out


def markdown(results: dict[str, dict[str, Any]], pinned: str) -> str:
    rows = [
        f"concurrency 1, {pinned}; client p50 ms (server `total_ms` p50 ms)",
        "",
        "| model | input | gRPC | HTTP JSON | HTTP binary | gRPC / JSON | gRPC / binary | empty call gRPC / HTTP |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        shape = ", ".join(f"{k} {v}" for k, v in r["shape"].items())
        cells = [f"{r[f'{m}_p50_ms']:.3f} ({r[f'{m}_server_p50_ms']:.3f})" for m in MODES]
        g, j, b = (r[f"{m}_p50_ms"] for m in MODES)
        live = f"{r['grpc_live_p50_ms']:.3f} / {r['http_live_p50_ms']:.3f}"
        rows.append(f"| {name} | {shape} | {' | '.join(cells)} | {g / j:.2f} | {g / b:.2f} | {live} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_grpc", description=__doc__.split("\n\n")[0])
    p.add_argument("--model-repository", type=Path, default=Path("models"))
    p.add_argument("--models", help="comma-separated (default: every model in the repository)")
    p.add_argument("-n", type=int, default=500, help="measured requests per mode and model")
    p.add_argument("--steps", type=int, default=20, help="time steps for a free time axis (sentiment tokens)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("out/bench/bench_grpc.json"))
    args = p.parse_args(argv)
    names = (
        args.models.split(",")
        if args.models
        else sorted(d.name for d in args.model_repository.iterdir() if (d / "model.json").is_file())
    )
    plan = cpu_plan()
    with ExitStack() as stack:
        srv = stack.enter_context(
            run_server(
                args.model_repository,
                grpc=True,
                ready_path="/v2/health/ready",
                timeout=120,
                cpus=None if plan is None else str(plan[1]),
                env={"RNN_SERVE_LOG_LEVEL": "warning"},
            )
        )
        if plan is not None:
            stack.callback(os.sched_setaffinity, 0, os.sched_getaffinity(0))  # a caller's process gets its CPUs back
            os.sched_setaffinity(0, {plan[0]})
        assert srv.grpc_address is not None
        http_address = srv.url.removeprefix("http://")
        results = {name: measure(srv.grpc_address, http_address, name, args.n, args.steps, args.seed) for name in names}
    pinned = f"server on CPU {plan[1]}, client on CPU {plan[0]}" if plan else "unpinned"
    print(markdown(results, pinned))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"pinned": pinned, "models": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
