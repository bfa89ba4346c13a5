"""Side measurements for the results table: ORT latency (LSTM vs GRU) and forecast baselines.

Latency is raw ``session.run`` at batch 1 with one intra-op thread, the LSTM and GRU sessions
alternating in short blocks inside one process, because this VM's speed drifts by ±20–50 % over
seconds: only side-by-side ratios are trustworthy, absolute figures are not.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from export.data import TaskData
from export.evaluate import open_package
from export.metrics import regression
from service.package import ForecastPreprocessing
from service.tasks import TASKS

ROUNDS = 9  # alternating blocks per model
BLOCK = 100  # session.run calls per block (after WARMUP)
WARMUP = 50


def latency_input(data: TaskData) -> Any:
    """One real test example; sentiment: the first longest test sentence cut to 20 tokens (on SST-2, 20)."""
    return example_of(data.task, data.test[0])


def example_of(task: str, xs: Any, rows: int = 1) -> Any:
    """:func:`latency_input` from preprocessed test inputs ``xs``, repeated to ``rows`` rows."""
    if task == "sentiment":
        return [max(xs, key=len)[:20]] * rows
    return np.repeat(xs[:1], rows, axis=0)


def interleaved_latency(packages: dict[str, Path], task: str, example: Any) -> dict[str, dict[str, Any]]:
    """Median / p90 ms of ``session.run`` per package, blocks alternating between packages."""
    return session_latency({name: open_package(path, threads=1)[0] for name, path in packages.items()}, task, example)


def session_latency(
    sessions: dict[str, ort.InferenceSession], task: str, example: Any, rounds: int = ROUNDS, block: int = BLOCK
) -> dict[str, dict[str, Any]]:
    """:func:`interleaved_latency` on open sessions (the size sweep times graphs it never packages).

    ``cpu_median_ms`` is the process CPU time per call: unlike the wall time it does not grow when
    another process preempts this one mid-run (this VM's cores are shared), though with more than
    one intra-op thread it also counts the pool threads' spinning.
    """
    feeds = TASKS[task].feeds(example)
    times: dict[str, list[float]] = {name: [] for name in sessions}
    cpu: dict[str, list[float]] = {name: [] for name in sessions}
    for sess in sessions.values():
        for _ in range(WARMUP):
            sess.run(None, feeds)
    for r in range(rounds):
        names = list(sessions) if r % 2 == 0 else list(reversed(sessions))
        for name in names:
            sess, out = sessions[name], times[name]
            for _ in range(block):
                c0, t0 = time.process_time_ns(), time.perf_counter()
                sess.run(None, feeds)
                out.append((time.perf_counter() - t0) * 1e3)
                cpu[name].append((time.process_time_ns() - c0) / 1e6)
    shape = {k: list(v.shape) for k, v in feeds.items()}
    return {
        name: {
            "median_ms": float(np.median(t)),
            "cpu_median_ms": float(np.median(cpu[name])),
            "p90_ms": float(np.percentile(t, 90)),
            "round_medians_ms": [float(np.median(t[i : i + block])) for i in range(0, len(t), block)],
            "n_runs": len(t),
            "input_shape": shape,
        }
        for name, t in times.items()
    }


def forecast_baselines(data: TaskData) -> dict[str, dict[str, float]]:
    """Seasonal-naive (repeat the last 24 h of OT) and a least-squares linear map on the 96×7 window."""
    pre = data.preprocessing
    if not isinstance(pre, ForecastPreprocessing):
        raise TypeError(f"forecast baselines need forecast data, not {data.task}")
    col = pre.variables.index(pre.target)
    x_test, y_test = data.test
    reps = int(np.ceil(pre.horizon / 24))
    naive = np.tile(x_test[:, -24:, col], (1, reps))[:, : pre.horizon]
    x_train, y_train = data.train

    def design(x: np.ndarray) -> np.ndarray:
        """The flattened window plus a bias column, in float64 for the normal equations."""
        return np.hstack([x.reshape(len(x), -1), np.ones((len(x), 1), np.float32)]).astype(np.float64)

    a = design(x_train)
    weights = np.linalg.solve(a.T @ a + 1e-3 * np.eye(a.shape[1]), a.T @ y_train.astype(np.float64))
    linear = design(x_test) @ weights
    return {
        "seasonal_naive_24h": regression(naive, y_test, data.target_std),
        "linear_least_squares": regression(linear.astype(np.float32), y_test, data.target_std),
    }
