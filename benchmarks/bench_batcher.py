"""The batcher's own gain, without HTTP: ``K`` coroutines call ``ModelRunner.infer`` back to back.

Over HTTP on a 2-core box the Python request path, not ``session.run``, is the bottleneck, so the
HTTP throughput ratio says little about the batcher. This measures what it does where the model
is the bottleneck: same process, same real inputs, batching off vs on (closed loop, ``K`` callers).
``benchmarks.bench`` reports it as (c'); ``python -m benchmarks.bench_batcher`` prints it alone.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np

from loadtest.workload import load_examples, task_of, v1_payloads
from service.package import MODEL_FILE, read_package
from service.runtime.activity import ACTIVITY
from service.runtime.repository import LoadedModel, load_model
from service.runtime.runner import ModelRunner, Tensors
from service.settings import Settings
from service.tasks import task_for


async def _drive(runner: ModelRunner, inputs: list[Tensors], callers: int, seconds: float) -> int:
    done = 0
    stop = time.perf_counter() + seconds

    async def caller(k: int) -> None:
        nonlocal done
        i = k
        ACTIVITY.enter()  # each caller is a request in flight, as the HTTP middleware counts them
        try:
            while time.perf_counter() < stop:
                await runner.infer(inputs[i % len(inputs)])
                done += 1
                i += callers
        finally:
            ACTIVITY.leave()

    await asyncio.gather(*(caller(k) for k in range(callers)))
    return done


def batcher_gain(
    repo: Path,
    name: str,
    inputs: list[Tensors],
    settings: Settings,
    callers: int = 32,
    seconds: float = 1.0,
    repeats: int = 3,
) -> dict[str, Any]:
    """Requests/s with batching off and on (``settings``' batch size and delay), and rows per run.

    Each mode's model is loaded as the server loads it (``load_model``: same session options,
    batch policy and warm-up). Off and on alternate ``repeats`` times; the medians are reported
    (a shared box drifts)."""
    out: dict[str, Any] = {"callers": callers, "seconds": seconds, "repeats": repeats}
    models: dict[str, LoadedModel] = {}
    runners: dict[str, ModelRunner] = {}
    for mode in ("off", "on"):
        model = models[mode] = load_model(repo / name, settings.model_copy(update={"batching": mode}))
        if model.runner is None:
            raise RuntimeError(f"{name} (batching {mode}) did not load: {model.error}")
        runners[mode] = model.runner
    rates: dict[str, list[float]] = {"off": [], "on": []}

    async def measure() -> None:
        for mode in ("off", "on"):
            await _drive(runners[mode], inputs, callers, 0.3)  # warm-up, discarded
            models[mode].stats.batches.clear()
        for _ in range(repeats):
            for mode in ("off", "on"):
                rates[mode].append(await _drive(runners[mode], inputs, callers, seconds) / seconds)

    asyncio.run(measure())
    for mode in ("off", "on"):
        runners[mode].close()
        out[f"{mode}_rps"] = float(np.median(rates[mode]))
        out[f"{mode}_rps_all"] = rates[mode]
        batches = models[mode].stats.batches
        runs = sum(v[0] for v in batches.values())
        out[f"{mode}_rows_per_run"] = float(sum(k * v[0] for k, v in batches.items()) / max(runs, 1))
    out["ratio"] = out["on_rps"] / out["off_rps"]
    out["policy_on"] = runners["on"].policy.as_dict()
    return out


def real_inputs(folder: Path, count: int, settings: Settings) -> list[Tensors]:
    """``count`` held-out inputs of the model's task (``loadtest.workload``), preprocessed by the service."""
    task = task_for(read_package(folder), folder, settings.max_request_rows)
    examples = load_examples(task_of(folder.name), None, 0, count)
    return [task.preprocess(task.parse(p.body, p.content_type)) for p in v1_payloads(examples)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-repository", type=Path, default=Path("models"))
    parser.add_argument("--models", nargs="*", help="default: every <task>-<cell> package in the repository")
    parser.add_argument("--callers", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=1.0, help="per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="alternating off/on measurements per model")
    parser.add_argument("--payloads", type=int, default=200, help="distinct real inputs per task")
    args = parser.parse_args(argv)
    repo, settings = args.model_repository, Settings()
    names = args.models or sorted(p.name for p in repo.iterdir() if (p / MODEL_FILE).is_file())
    print("| model | callers | off req/s | on req/s | on/off | rows/run off | rows/run on |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        g = batcher_gain(
            repo,
            name,
            real_inputs(repo / name, args.payloads, settings),
            settings,
            args.callers,
            args.seconds,
            args.repeats,
        )
        print(
            f"| {name} | {g['callers']} | {g['off_rps']:.0f} | {g['on_rps']:.0f} | {g['ratio']:.2f}× "
            f"| {g['off_rows_per_run']:.1f} | {g['on_rows_per_run']:.1f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
