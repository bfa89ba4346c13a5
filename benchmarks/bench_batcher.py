"""The batcher's own gain, without HTTP: ``K`` coroutines call ``ModelRunner.infer`` back to back.

Over HTTP on a 2-core box the Python request path, not ``session.run``, is the bottleneck, so the
HTTP throughput ratio says little about the batcher. This measures what it does where the model
is the bottleneck: same process, same real inputs, batching off vs on (closed loop, ``K`` callers).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np

from service.batch_policy import BatchPolicy
from service.inline import ACTIVITY
from service.package import MODEL_FILE, read_package
from service.runtime import ModelRunner, Tensors
from service.settings import Settings
from service.stats import ModelStats


async def _drive(runner: ModelRunner, inputs: list[Tensors], callers: int, seconds: float) -> int:
    done = 0
    stop = time.perf_counter() + seconds

    async def caller(k: int) -> None:
        nonlocal done
        i = k
        ACTIVITY.requests += 1  # each caller is a request in flight, as the HTTP middleware counts them
        try:
            while time.perf_counter() < stop:
                await runner.infer(inputs[i % len(inputs)])
                done += 1
                i += callers
        finally:
            ACTIVITY.requests -= 1

    await asyncio.gather(*(caller(k) for k in range(callers)))
    return done


def batcher_gain(repo: Path, name: str, inputs: list[Tensors], settings: Settings, callers: int = 32,
                 seconds: float = 1.0, repeats: int = 3) -> dict[str, Any]:
    """Requests/s with batching off and on (``settings``' batch size and delay), and rows per run.

    Off and on alternate ``repeats`` times; the medians are reported (a shared box drifts)."""
    package = read_package(repo / name)
    out: dict[str, Any] = {"callers": callers, "seconds": seconds, "repeats": repeats}
    runners, stats = {}, {}
    for mode in ("off", "on"):
        stats[mode] = ModelStats()
        runners[mode] = ModelRunner.load(name, repo / name / MODEL_FILE, package,
                                         settings.model_copy(update={"batching": mode}), recorder=stats[mode])
        runners[mode].warm_up(inputs[0], 3)
    rates: dict[str, list[float]] = {"off": [], "on": []}

    async def measure() -> None:
        for mode in ("off", "on"):
            await _drive(runners[mode], inputs, callers, 0.3)  # warm-up, discarded
            stats[mode].batches.clear()
        for _ in range(repeats):
            for mode in ("off", "on"):
                rates[mode].append(await _drive(runners[mode], inputs, callers, seconds) / seconds)

    asyncio.run(measure())
    for mode in ("off", "on"):
        runners[mode].close()
        out[f"{mode}_rps"] = float(np.median(rates[mode]))
        out[f"{mode}_rps_all"] = rates[mode]
        batches = stats[mode].batches
        runs = sum(v[0] for v in batches.values())
        out[f"{mode}_rows_per_run"] = float(sum(k * v[0] for k, v in batches.items()) / max(runs, 1))
    out["ratio"] = out["on_rps"] / out["off_rps"]
    out["policy_on"] = BatchPolicy.resolve(settings.model_copy(update={"batching": "on"}), package.batching).as_dict()
    return out
