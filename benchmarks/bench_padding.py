"""Padding vs length-aware runs for a variable-length model: ``python -m service.bench_padding``.

Why: one run of B sentences padded to the longest walks every padded step, so on SST-2's spread
of lengths a single padded run can cost more than B separate runs. This measures, on the same
random draws of real held-out sentences (SST-2 dev), µs per row for B separate runs, one padded
run, and the batcher's length-aware runs (``service.padding.plan`` with the cost model fitted at
warm-up), alternating per draw. In-process, no HTTP; the figure behind the README's table.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

from loadtest.workload import load_examples, v1_payloads
from service.package import MODEL_FILE, read_package
from service.padding import merge
from service.runtime import ModelRunner
from service.settings import Settings
from service.tasks import pipeline_for


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-repository", type=Path, default=Path("models"))
    parser.add_argument("--models", nargs="*", default=["sentiment-lstm", "sentiment-gru"])
    parser.add_argument("--sizes", nargs="*", type=int, default=[4, 8, 16, 32])
    parser.add_argument("--draws", type=int, default=60, help="random batches per size")
    args = parser.parse_args(argv)
    print("| model | rows | separate runs µs/row | one padded run µs/row | length-aware runs µs/row "
          "| padded gain | length-aware gain |")
    print("|---|---|---|---|---|---|---|")
    for name in args.models:
        folder = args.model_repository / name
        package = read_package(folder)
        runner = ModelRunner.load(name, folder / MODEL_FILE, package, Settings())
        pipeline = pipeline_for(package, folder, 64)
        runner.warm_up(pipeline.example_inputs(), 5)
        assert runner.batcher is not None and runner.batcher.cost is not None, "needs batching on and padding"
        inputs = [pipeline.preprocess(pipeline.parse(p.body, p.content_type))[0]
                  for p in v1_payloads(load_examples("sentiment", None, 0, 400))]
        rng = random.Random(0)
        for size in args.sizes:
            times: dict[str, list[float]] = {"separate": [], "padded": [], "planned": []}
            for _ in range(args.draws):
                parts = rng.sample(inputs, size)
                for kind, run in (("separate", lambda: [runner.run(p) for p in parts]),
                                  ("padded", lambda: runner.run(merge(parts, True)[0])),
                                  ("planned", lambda: runner.batcher.run_parts(parts))):
                    started = time.perf_counter()
                    run()
                    times[kind].append((time.perf_counter() - started) * 1e6 / size)
            med = {k: statistics.median(v) for k, v in times.items()}
            print(f"| {name} | {size} | {med['separate']:.1f} | {med['padded']:.1f} | {med['planned']:.1f} "
                  f"| {med['separate'] / med['padded']:.2f}× | {med['separate'] / med['planned']:.2f}× |")
        print(f"<!-- {name} cost model: {runner.batcher.cost} -->")
        runner.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
