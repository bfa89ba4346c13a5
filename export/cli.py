"""``rnn-serve train | export | evaluate | models`` — each function takes an argv list.

``train`` and ``export`` need torch (the ``train`` extra); ``evaluate`` only needs onnxruntime,
because it scores the package exactly as the service serves it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from export.data import DEFAULT_DATA, TASKS

RUNS_DIR = Path(".runs")  # checkpoints (git-ignored); packages go to models/
MODELS_DIR = Path("models")
CELLS = ("lstm", "gru")


def _seeds(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s.strip()]


def _cells(text: str) -> list[str]:
    cells = [c.strip() for c in text.split(",") if c.strip()]
    bad = [c for c in cells if c not in CELLS]
    if bad:
        raise argparse.ArgumentTypeError(f"cell must be lstm and/or gru; got {bad}")
    return cells


def train_task(
    task: str,
    cells: list[str],
    seeds: list[int],
    out: Path,
    data: Path | None = None,
    epochs: int | None = None,
    hidden: int | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Train every seed × cell, interleaved per seed (lstm, gru, lstm, ...) so machine drift cancels."""
    from dataclasses import asdict

    from export.data import load_task
    from export.train import save_checkpoint, task_config, train_run

    cfg = task_config(task, epochs=epochs, hidden=hidden)
    loaded = load_task(task, data, min_freq=cfg.min_freq)
    results: dict[str, list[dict[str, Any]]] = {cell: [] for cell in cells}
    for seed in seeds:
        for cell in cells:
            model, result = train_run(loaded, cell, seed, cfg)
            save_checkpoint(out / f"{task}-{cell}" / f"seed{seed}.pt", model, result, loaded)
            results[cell].append(asdict(result))
    return results


def train_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="rnn-serve train", description="Train LSTM/GRU models for one task.")
    p.add_argument("--task", choices=TASKS, required=True)
    p.add_argument("--cell", type=_cells, default=list(CELLS), help="lstm, gru or lstm,gru (default both)")
    p.add_argument("--seeds", type=_seeds, default=[0, 1, 2], help="comma-separated, default 0,1,2")
    p.add_argument("--epochs", type=int, default=None, help="default: the task's Config in export/train.py")
    p.add_argument("--hidden", type=int, default=None, help="default: Config.hidden")
    p.add_argument("--data", type=Path, default=None, help="data folder/file (default ../shared/data/...)")
    p.add_argument("--out", type=Path, default=RUNS_DIR, help="checkpoint folder (default .runs)")
    a = p.parse_args(argv)
    results = train_task(a.task, a.cell, a.seeds, a.out, a.data, a.epochs, a.hidden)
    for cell, runs in results.items():
        print(json.dumps({"task": a.task, "cell": cell, "test": [r["test"] for r in runs]}))
    return 0


def export_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="rnn-serve export", description="Checkpoints of one task × cell → verified ONNX package."
    )
    p.add_argument("--task", choices=TASKS, required=True)
    p.add_argument("--cell", choices=CELLS, required=True)
    p.add_argument("--runs", type=Path, default=RUNS_DIR, help="checkpoint folder (default .runs)")
    p.add_argument("--data", type=Path, default=None, help="data for parity + test metrics")
    p.add_argument("--seed", type=int, default=None, help="seed to package (default: best validation seed)")
    p.add_argument("--out", type=Path, default=None, help="package folder (default models/<task>-<cell>)")
    a = p.parse_args(argv)
    from export.data import load_task
    from export.onnx_export import export_run

    export_run(
        a.runs / f"{a.task}-{a.cell}",
        a.out or MODELS_DIR / f"{a.task}-{a.cell}",
        load_task(a.task, a.data),
        seed=a.seed,
    )
    return 0


def _rows(text: str) -> slice:
    start, _, end = text.partition(":")
    return slice(int(start) if start else None, int(end) if end else None)


def evaluate_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="rnn-serve evaluate",
        description="Score a model package (onnxruntime) on a data file or folder; prints one JSON object.",
    )
    p.add_argument("--model", type=Path, required=True, help="package folder, e.g. models/sentiment-gru")
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        help="sentiment: GLUE tsv or '<label> <sentence>' file, or a folder of them (default: the held-out "
        "test sentences); keywords: folder of {digit}_{speaker}_{index}.wav; forecast: ETT-format csv "
        "(default: the task's file in ../shared/data)",
    )
    p.add_argument(
        "--rows",
        type=_rows,
        default=None,
        help="forecast only: row range START:END of the csv, e.g. 11424:14400 for the ETTh1 test months",
    )
    a = p.parse_args(argv)
    from export.evaluate import evaluate_package
    from service.package import PackageError, read_package

    try:
        task = read_package(a.model).task
        data = a.data or (None if task == "sentiment" else DEFAULT_DATA[task])
        print(json.dumps(evaluate_package(a.model, data, a.rows)))
    except (PackageError, ValueError, OSError) as exc:
        print(f"rnn-serve evaluate: {exc}", file=sys.stderr)
        return 2
    return 0


def _saved_results(run_dir: Path) -> list[dict[str, Any]]:
    """The per-seed training records stored in a task × cell's checkpoints."""
    import torch

    ckpts = sorted(run_dir.glob("seed*.pt"))
    if not ckpts:
        raise FileNotFoundError(f"{run_dir}: no checkpoints; run `rnn-serve models` without --results-only")
    return [torch.load(p, map_location="cpu", weights_only=False)["result"] for p in ckpts]


def models_main(argv: list[str]) -> int:
    from export.sweeps import RUNNERS

    p = argparse.ArgumentParser(
        prog="rnn-serve models",
        description="Re-create the six packages, every sweep, models/results.json, RESULTS.md and its figures.",
    )
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--seeds", type=_seeds, default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=None, help="override every task's epochs (smoke runs)")
    p.add_argument("--runs", type=Path, default=RUNS_DIR, help="checkpoints and sweep caches (default .runs)")
    p.add_argument("--out", type=Path, default=MODELS_DIR)
    p.add_argument("--data-root", type=Path, default=None, help="a folder laid out like ../shared/data")
    p.add_argument(
        "--sweeps",
        default=",".join(RUNNERS),
        help=f"comma-separated sections to re-create after the packages (default all: {','.join(RUNNERS)}); "
        "'' for none",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a small version for tests: 2 seeds, 1 epoch, hidden 8, tiny sweeps (use with --out and --runs "
        "elsewhere than models/ and .runs/)",
    )
    p.add_argument("--no-results", action="store_true", help="packages only; skip results.json/RESULTS.md")
    p.add_argument(
        "--results-only",
        action="store_true",
        help="re-measure latency and regenerate results.json/RESULTS.md from the checkpoints in "
        "--runs and the packages in --out, without training (sweeps: only those named in --sweeps)",
    )
    a = p.parse_args(argv)
    sweeps = [s for s in a.sweeps.split(",") if s]
    unknown = [s for s in sweeps if s not in RUNNERS]
    if unknown:
        p.error(f"--sweeps: unknown {unknown}; known: {','.join(RUNNERS)}")
    from export.data import load_task, task_paths
    from export.onnx_export import export_run

    data = task_paths(a.data_root) if a.data_root else {}
    seeds, epochs, hidden = ([0, 1], 1, 8) if a.quick else (a.seeds, a.epochs, None)
    started = time.perf_counter()
    tasks = [t for t in a.tasks.split(",") if t]
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for task in tasks:
        if a.results_only:
            runs[task] = {cell: _saved_results(a.runs / f"{task}-{cell}") for cell in CELLS}
            continue
        runs[task] = train_task(task, list(CELLS), seeds, a.runs, data.get(task), epochs, hidden)
        loaded = load_task(task, data.get(task))
        for cell in CELLS:
            export_run(a.runs / f"{task}-{cell}", a.out / f"{task}-{cell}", loaded)
    if a.no_results:
        return 0
    from export.results import write_results
    from export.sweeps import run_section

    wall = time.perf_counter() - started
    previous = a.out / "results.json"
    if a.results_only:  # keep the wall time of the run that trained these checkpoints
        wall = json.loads(previous.read_text())["train_export_wall_seconds"] if previous.is_file() else float("nan")
    command = (
        "rnn-serve models"
        + (f" --tasks {','.join(tasks)}" if tasks != list(TASKS) else "")
        + (" --quick" if a.quick else "")
        + (" --results-only" if a.results_only else "")
    )
    write_results(a.out, runs, tasks, wall_seconds=wall, command=command, data_paths=data)
    for name in sweeps:
        print(f"rnn-serve models: sweep {name}", flush=True)
        run_section(name, a.out, a.runs, a.quick, data)
    print(f"rnn-serve models: done in {time.perf_counter() - started:.0f} s", flush=True)
    return 0
