"""Padding vs length-aware runs for a variable-length model: ``python -m benchmarks.bench_padding``.

Why: one run of B sentences padded to the longest walks every padded step, so on SST-2's spread
of lengths a single padded run can cost more than B separate runs. This measures, on the same
random draws of real held-out sentences (SST-2 dev), µs per row for B separate runs, one padded
run, and the batcher's length-aware runs (``service.batching.padding.plan`` with the cost model
fitted at warm-up), alternating per draw. In-process, no HTTP; the figure behind the README's table.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from loadtest.workload import load_examples, v1_payloads
from service.batching.padding import merge
from service.runtime.repository import load_model
from service.runtime.runner import Tensors
from service.settings import Settings


def model_rows(folder: Path, sizes: list[int], draws: int) -> list[str]:
    """The table rows of one model: µs per row of each way, medians over ``draws`` random batches
    per size; the ways alternate within every draw so machine drift hits them alike."""
    # Loaded as the server loads it: batching on, the cost model fitted at warm-up.
    model = load_model(folder, Settings(batching="on", warmup_runs=5))
    runner, task = model.runner, model.task
    if runner is None or task is None:
        raise RuntimeError(f"{folder.name} did not load: {model.error}")
    batcher = runner.batcher
    if batcher is None or batcher.cost is None:
        raise RuntimeError(f"{folder.name}: no length-aware runs (needs a sentiment model with batching on)")
    inputs = [
        task.preprocess(task.parse(p.body, p.content_type))
        for p in v1_payloads(load_examples("sentiment", None, 0, 400))
    ]
    ways: dict[str, Callable[[list[Tensors]], object]] = {
        "separate": lambda parts: [runner.run(p) for p in parts],
        "padded": lambda parts: runner.run(merge(parts, True)[0]),
        "planned": batcher.run_parts,
    }
    rng = random.Random(0)
    rows = []
    for size in sizes:
        times: dict[str, list[float]] = {kind: [] for kind in ways}
        for _ in range(draws):
            parts = rng.sample(inputs, size)
            for kind, run in ways.items():
                started = time.perf_counter()
                run(parts)
                times[kind].append((time.perf_counter() - started) * 1e6 / size)
        med = {k: statistics.median(v) for k, v in times.items()}
        rows.append(
            f"| {folder.name} | {size} | {med['separate']:.1f} | {med['padded']:.1f} | {med['planned']:.1f} "
            f"| {med['separate'] / med['padded']:.2f}× | {med['separate'] / med['planned']:.2f}× |"
        )
    rows.append(f"<!-- {folder.name} cost model: {batcher.cost} -->")
    runner.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-repository", type=Path, default=Path("models"))
    parser.add_argument("--models", nargs="*", default=["sentiment-lstm", "sentiment-gru"])
    parser.add_argument("--sizes", nargs="*", type=int, default=[4, 8, 16, 32])
    parser.add_argument("--draws", type=int, default=60, help="random batches per size")
    args = parser.parse_args(argv)
    print(
        "| model | rows | separate runs µs/row | one padded run µs/row | length-aware runs µs/row "
        "| padded gain | length-aware gain |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in args.models:
        print("\n".join(model_rows(args.model_repository / name, args.sizes, args.draws)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
