"""How much does serving add to a model call? ``python -m benchmarks.bench_overhead``.

Starts the real server on 127.0.0.1, sends N sequential ``POST /v1/models/<model>/predict``
requests over one keep-alive connection (concurrency 1), and interleaves each with a raw
in-process ``session.run`` on the same tensors and a ``GET /v2/health/live`` (the HTTP floor of
this client and server), so all medians see the same machine state.
Then it measures, in-process, what moving ``session.run`` off the event loop costs: inline,
the per-model single-thread executor the service uses, and ``asyncio.to_thread``.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from loadtest.servers import run_server
from service.package import MODEL_FILE
from service.runtime.repository import load_model
from service.runtime.runner import ModelRunner, Tensors
from service.settings import Settings


def _repository(requested: Path, model: str) -> tuple[Path, str]:
    if (requested / model / MODEL_FILE).is_file():
        return requested, f"real package {requested / model}"
    from tests.service.tiny_models import build_tiny_repository  # only for the fallback (needs onnx)

    tiny = build_tiny_repository(Path(tempfile.mkdtemp(prefix="bench-")) / "models")
    return tiny, f"TINY random package (no {requested / model} found)"


async def _hop_costs(runner: ModelRunner, inputs: Tensors, n: int) -> dict[str, float]:
    """Median µs of one run: inline in the loop, via the runner's executor, via asyncio.to_thread.
    ``runner`` must never run inline itself (no batching, ``inline_max_us=0``), so that its
    ``infer`` is the hop to the model's own thread."""
    samples: dict[str, list[float]] = {"inline": [], "dedicated executor": [], "asyncio.to_thread": []}
    for _ in range(n):
        t0 = time.perf_counter()
        runner.run(inputs)
        t1 = time.perf_counter()
        await runner.infer(inputs)
        t2 = time.perf_counter()
        await asyncio.to_thread(runner.run, inputs)
        t3 = time.perf_counter()
        samples["inline"].append(t1 - t0)
        samples["dedicated executor"].append(t2 - t1)
        samples["asyncio.to_thread"].append(t3 - t2)
    return {k: statistics.median(v) * 1e6 for k, v in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-repository", type=Path, default=Path("models"))
    parser.add_argument("--model", default="sentiment-gru")
    parser.add_argument("--text", default="a gripping , beautifully acted film that never drags .")
    parser.add_argument("-n", type=int, default=2000, help="requests (and raw runs), interleaved")
    args = parser.parse_args(argv)

    repo, source = _repository(args.model_repository, args.model)
    # The server's session options and preprocessing; this runner never batches nor runs inline,
    # so its ``infer`` below is the hop to the model's thread (the raw runs are plain session.run).
    settings = Settings(batching="off", inline_max_us=0)
    model = load_model(repo / args.model, settings)
    if model.runner is None or model.task is None:
        raise RuntimeError(f"{args.model} did not load: {model.error}")
    runner, task = model.runner, model.task
    body = json.dumps({"text": args.text}).encode()
    inputs = task.preprocess(task.parse(body, "application/json"))
    session = runner.session
    warm = min(100, args.n)

    http_ms, server_total, server_inf, raw_ms, floor_ms = [], [], [], [], []
    with run_server(repo, extra_args=["--log-level", "warning"], ready_path="/v2/health/ready") as server:
        conn = http.client.HTTPConnection(server.url.removeprefix("http://"))
        headers = {"Content-Type": "application/json"}
        for i in range(args.n + warm):  # the first ``warm`` of each are warm-up
            t0 = time.perf_counter()
            conn.request("POST", f"/v1/models/{args.model}/predict", body=body, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
            t1 = time.perf_counter()
            session.run(None, inputs)
            t2 = time.perf_counter()
            conn.request("GET", "/v2/health/live")
            conn.getresponse().read()
            t3 = time.perf_counter()
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}: {payload[:200]!r}")
            if i >= warm:
                timing = json.loads(payload)["timing"]
                http_ms.append((t1 - t0) * 1e3)
                raw_ms.append((t2 - t1) * 1e3)
                floor_ms.append((t3 - t2) * 1e3)
                server_total.append(timing["total_ms"])
                server_inf.append(timing["inference_ms"])
        conn.close()

    hops = asyncio.run(_hop_costs(runner, inputs, min(args.n, 1000)))
    runner.close()

    med = statistics.median
    tokens = int(inputs["tokens"].shape[1])
    print(
        f"model: {args.model} ({source}); input: {tokens} tokens; n={args.n} interleaved; "
        f"ORT threads intra={settings.intra_op_threads} inter={settings.inter_op_threads}; cpus={os.cpu_count()}"
    )
    print(f"  HTTP POST /v1/models/{args.model}/predict p50 (client, c=1): {med(http_ms):8.3f} ms")
    print(f"    server-reported total_ms p50:                    {med(server_total):8.3f} ms")
    print(f"    server-reported inference_ms p50:                {med(server_inf):8.3f} ms")
    print(f"  raw session.run p50 (in-process, same tensors):    {med(raw_ms):8.3f} ms")
    print(f"  HTTP floor: GET /v2/health/live p50 (same client): {med(floor_ms):8.3f} ms")
    print(f"  ratio HTTP p50 / raw session.run p50:              {med(http_ms) / med(raw_ms):8.2f}x")
    print("  one session.run, median µs, by how it is called from async code:")
    for name, us in hops.items():
        print(f"    {name:<20} {us:8.1f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
