"""Accuracy vs latency by model size, per task and cell: ``python -m export.sweep_size``.

Why: the packages are one point per cell (hidden 128), which cannot answer the practitioner's
question "at my latency budget, which cell and size is most accurate?". A smaller LSTM may beat
a larger GRU at equal latency, or the reverse; only a curve per cell shows it.

Every point is trained by the packages' own :func:`train_run` (same data, splits, optimiser) at
reduced epochs (:data:`EPOCHS`), so absolute figures sit below the packages'; LSTM and GRU always
get the same budget, which is what the comparison needs. Each point is packaged by the packages'
own exporter (:func:`export_run`: parity, step model, test metrics from onnxruntime) under
``.runs/sweep/<task>/repo/<task>-<cell>-h<size>-s<seed>``, with its per-example test outputs
beside it (the sequence-length sweep reads them), and cached: a re-run only re-times. Latency is
measured twice per point, all points of a task alternating in blocks: raw ``session.run`` (batch 1,
one intra-op thread, :func:`interleaved_latency`) and **served** — the real ``rnn-serve serve``
over the task route at concurrency 1 (:func:`served_latency`), which is what a user pays.
Records go to ``models/results.json`` ``sweeps.size``; one figure per task to
``models/figures/size_<task>.png``; ``RESULTS.md`` is re-rendered from the json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from export.benchmarks import interleaved_latency, latency_input
from export.data import TASKS, TaskData, load_task
from export.evaluate import open_package, run_outputs
from export.metrics import SELECT_BY
from export.onnx_export import export_run
from export.progress import tracked
from export.served import Request, served_latency
from export.size_report import default_size, plot, summary
from export.sweeps import cached_point, save_section
from export.train import save_checkpoint, task_config, train_run
from loadtest.workload import load_examples, v1_payloads
from service.preprocess.text import tokenize

SIZES = (16, 32, 64, 128)  # hidden units; 128 is the packages' size
SEEDS = (0, 1, 2)
EPOCHS = {"sentiment": 3, "keywords": 10, "forecast": 2}  # reduced from the packages' 8 / 25 / 5
QUICK_EPOCHS = 1
CELLS = ("lstm", "gru")
FIGURES = "figures"
RUNS = Path(".runs")
SUBDIR = "sweep"  # the points' cache under the runs folder: <runs>/sweep/<task>/{points,repo}/
SWEEP_RUNS = RUNS / SUBDIR
OUTPUTS_FILE = "test_outputs.npy"  # per-example test outputs of the point's package, in test order
SERVED_TOKENS = 20  # the sentiment request's length in tokens, as the raw latency input


def point_name(task: str, cell: str, size: int, seed: int) -> str:
    """The point's package name (a valid ``<task>-<cell>-<variant>`` model name)."""
    return f"{task}-{cell}-h{size}-s{seed}"


def parse_point(name: str) -> tuple[str, str, int, int]:
    """``sentiment-gru-h64-s1`` → ``("sentiment", "gru", 64, 1)``: the inverse of :func:`point_name`."""
    task, cell, size, seed = name.split("-")
    return task, cell, int(size[1:]), int(seed[1:])


def train_point(data: TaskData, cell: str, size: int, seed: int, epochs: int, runs: Path) -> dict[str, Any]:
    """Train, package and score one point, or read it back if an earlier run did (cache)."""
    task = data.task
    name = point_name(task, cell, size, seed)
    folder = runs / task / "points" / name
    saved = folder / "record.json"
    if (cached := cached_point(saved, epochs)) is not None:
        return cached
    model, result = train_run(data, cell, seed, task_config(task, hidden=size, epochs=epochs))
    save_checkpoint(folder / f"seed{seed}.pt", model, result, data)
    package = runs / task / "repo" / name
    export_run(folder, package, data, seed=seed, name=name)
    np.save(folder / OUTPUTS_FILE, run_outputs(open_package(package)[0], task, data.test[0]))
    metric, _ = SELECT_BY[task]
    record = {
        "task": task,
        "cell": cell,
        "hidden_size": size,
        "seed": seed,
        "epochs": epochs,
        "params": result.parameter_count,
        "metric": metric,
        "value": result.test[metric],
        "val_value": result.val[metric],
        "seconds_per_epoch": float(np.mean(result.epoch_seconds)),
        "epoch_seconds": result.epoch_seconds,
    }
    saved.write_text(json.dumps(record, indent=2) + "\n")
    return record


def served_request(task: str) -> Request:
    """One real held-out input for the task route; sentiment: a sentence of :data:`SERVED_TOKENS` tokens."""
    examples = load_examples(task, None, seed=0, max_items=10_000)
    if task == "sentiment":  # the raw latency input is 20 tokens: time the same length served
        pick = min(range(len(examples.items)), key=lambda i: abs(len(tokenize(examples.items[i])) - SERVED_TOKENS))
        examples = type(examples)(task, [examples.items[pick]], examples.source, examples.synthetic)
    payload = v1_payloads(examples)[0]
    return Request("", payload.body, payload.headers)


def time_points(task: str, data: TaskData, records: list[dict[str, Any]], runs: Path, block: int) -> None:
    """Raw and served p50 of every point of ``task``, all alternating in one process / one server."""
    repo = runs / task / "repo"
    names = {point_name(task, r["cell"], r["hidden_size"], r["seed"]): r for r in records}
    raw = interleaved_latency({n: repo / n for n in names}, task, latency_input(data))
    body = served_request(task)
    requests = {n: Request(f"/v1/models/{n}/predict", body.body, body.headers) for n in names}
    served = served_latency(repo, requests, block=block)
    for n, r in names.items():
        r["raw_p50_ms"] = raw[n]["median_ms"]
        r["served_p50_ms"] = served[n]["median_ms"]


def sweep_task(
    task: str,
    sizes: tuple[int, ...],
    seeds: tuple[int, ...],
    epochs: int,
    data_path: Path | None = None,
    runs: Path = SWEEP_RUNS,
    block: int = 40,
) -> list[dict[str, Any]]:
    """Every size × seed × cell of ``task`` (cells interleaved, as in training), then timed together."""
    data = load_task(task, data_path)
    points = [(size, seed, cell) for size in sizes for seed in seeds for cell in CELLS]
    records = [
        train_point(data, cell, size, seed, epochs, runs) for size, seed, cell in tracked(points, f"size sweep: {task}")
    ]
    time_points(task, data, records, runs, block)
    return records


def write_sweep(models_dir: Path, records: list[dict[str, Any]], tasks: list[str], command: str) -> dict[str, Any]:
    """Merge the records into ``results.json`` (other tasks' records kept), draw, re-render RESULTS.md."""
    res: dict[str, Any] = json.loads((models_dir / "results.json").read_text())
    kept = [r for r in res.get("sweeps", {}).get("size", {}).get("records", []) if r["task"] not in tasks]
    merged = kept + records
    all_tasks = [t for t in TASKS if any(r["task"] == t for r in merged)]
    for t in tasks:
        plot(t, [r for r in merged if r["task"] == t], models_dir / FIGURES / f"size_{t}.png")
    section = {
        "command": command,
        "sizes": sorted({r["hidden_size"] for r in merged}),
        "records": merged,
        "summary": {t: summary(t, [r for r in merged if r["task"] == t]) for t in all_tasks},
        "defaults": {t: default_size(t, [r for r in merged if r["task"] == t]) for t in all_tasks},
        "figures": {t: f"{FIGURES}/size_{t}.png" for t in all_tasks},
    }
    return save_section(models_dir, "size", section)


def run(
    models_dir: Path, runs: Path = RUNS, quick: bool = False, data: dict[str, Path] | None = None
) -> dict[str, Any]:
    """The whole sweep into ``models_dir`` (``quick``: hidden 4 and 8 × 2 seeds × 1 epoch, for tests)."""
    data = data or {}
    sizes, seeds = ((4, 8), (0, 1)) if quick else (SIZES, SEEDS)
    records = [
        r
        for t in TASKS
        for r in sweep_task(
            t, sizes, seeds, QUICK_EPOCHS if quick else EPOCHS[t], data.get(t), runs / SUBDIR, 5 if quick else 40
        )
    ]
    return write_sweep(models_dir, records, list(TASKS), "python -m export.sweep_size" + (" --quick" if quick else ""))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m export.sweep_size", description=__doc__.split("\n")[0])
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--sizes", default=",".join(map(str, SIZES)))
    p.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    p.add_argument("--out", type=Path, default=Path("models"))
    a = p.parse_args(argv)
    tasks = [t for t in a.tasks.split(",") if t]
    sizes, seeds = tuple(int(s) for s in a.sizes.split(",")), tuple(int(s) for s in a.seeds.split(","))
    records = [r for t in tasks for r in sweep_task(t, sizes, seeds, EPOCHS[t])]
    res = write_sweep(
        a.out,
        records,
        tasks,
        "python -m export.sweep_size" + (f" --tasks {a.tasks}" if a.tasks != ",".join(TASKS) else ""),
    )
    for line in res["sweeps"]["size"]["summary"].values():
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
