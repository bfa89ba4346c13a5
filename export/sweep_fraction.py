"""Accuracy by training-set size, LSTM vs GRU: ``python -m export.sweep_fraction``.

Why: the sources say a GRU, having fewer parameters, "works well with smaller datasets". Only a
curve answers that: both cells trained on 5, 10, 25, 50 and 100 % of the same training data.

- **Nested subsets, shared by both cells.** Seed ``k`` draws one permutation of the training
  examples; fraction ``f`` trains on its first ``ceil(f·n)`` examples, so the 5 % set is inside
  the 10 % set and so on, and LSTM and GRU of one seed see exactly the same examples. For
  sentiment the examples are the training phrases (of training sentences only: the held-out
  sentences are untouched), for keywords the training clips.
- **Fair budget.** A small set seen for the base epochs would mostly measure under-training, so
  a fraction gets ``min(base / f, 4 × base)`` epochs (more passes over less data, at most four
  times the base) and, as every run here, keeps its best validation epoch; validation and test
  are the full held-out splits for every fraction.
- **One size.** Hidden :data:`HIDDEN` for both tasks, at the size sweep's reduced base epochs
  (so absolute figures sit below the packages'). Both cells always get the same budget.

Each point is cached under ``.runs/fraction/<task>/`` (a re-run only re-reports). Records go to
``results.json`` ``sweeps.train_fraction``; the figure to ``models/figures/train_fraction.png``.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from export.data import TaskData, load_task
from export.figures import pyplot, save
from export.metrics import SELECT_BY
from export.progress import tracked
from export.results import diff_verdict, stats
from export.sweep_size import EPOCHS, QUICK_EPOCHS
from export.sweeps import cached_point, save_section
from export.train import take, task_config, train_run

TASKS = ("sentiment", "keywords")
FRACTIONS = (0.05, 0.10, 0.25, 0.50, 1.0)
SEEDS = (0, 1, 2)
HIDDEN = 64
MAX_EPOCH_FACTOR = 4
CELLS = ("lstm", "gru")
RUNS = Path(".runs")
SUBDIR = "fraction"
FIGURE = "figures/train_fraction.png"


def epochs_for(base: int, fraction: float) -> int:
    """More passes over less data, at most :data:`MAX_EPOCH_FACTOR` × ``base``."""
    return int(min(math.ceil(base / fraction), MAX_EPOCH_FACTOR * base))


def subset(data: TaskData, seed: int, fraction: float) -> TaskData:
    """The first ``ceil(fraction·n)`` training examples of seed ``seed``'s permutation (nested)."""
    n = len(data.train[1])
    order = np.random.default_rng(seed).permutation(n)[: math.ceil(fraction * n)]
    return replace(data, train=(take(data.train[0], order), data.train[1][order]))


def train_point(
    data: TaskData, cell: str, seed: int, fraction: float, base_epochs: int, hidden: int, runs: Path
) -> dict[str, Any]:
    """One cell × seed × fraction, or its cached record."""
    task = data.task
    epochs = epochs_for(base_epochs, fraction)
    path = runs / task / f"{cell}-h{hidden}-f{fraction:g}-s{seed}.json"
    if (cached := cached_point(path, epochs)) is not None:
        return cached
    part = subset(data, seed, fraction)
    _, result = train_run(part, cell, seed, task_config(task, hidden=hidden, epochs=epochs))
    metric, _ = SELECT_BY[task]
    record = {
        "task": task,
        "cell": cell,
        "hidden_size": hidden,
        "seed": seed,
        "fraction": fraction,
        "n_train": len(part.train[1]),
        "epochs": epochs,
        "metric": metric,
        "value": result.test[metric],
        "val_value": result.val[metric],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return record


def sweep_task(
    task: str,
    fractions: tuple[float, ...] = FRACTIONS,
    seeds: tuple[int, ...] = SEEDS,
    base_epochs: int | None = None,
    hidden: int = HIDDEN,
    data_path: Path | None = None,
    runs: Path = RUNS / SUBDIR,
) -> list[dict[str, Any]]:
    """Every fraction × seed × cell of ``task``, cells interleaved."""
    data = load_task(task, data_path)
    base = base_epochs or EPOCHS[task]
    points = [(f, seed, cell) for f in fractions for seed in seeds for cell in CELLS]
    return [
        train_point(data, cell, seed, f, base, hidden, runs) for f, seed, cell in tracked(points, f"fractions: {task}")
    ]


def gaps(records: list[dict[str, Any]], task: str) -> list[dict[str, Any]]:
    """Per fraction: each cell's mean ± std over seeds and the GRU − LSTM verdict (GRU better?)."""
    _, higher = SELECT_BY[task]
    out = []
    for f in sorted({r["fraction"] for r in records if r["task"] == task}):
        cells = {
            c: stats([r["value"] for r in records if r["task"] == task and r["fraction"] == f and r["cell"] == c])
            for c in CELLS
        }
        d, verdict = diff_verdict(cells["gru"], cells["lstm"], higher)
        n = next(r["n_train"] for r in records if r["task"] == task and r["fraction"] == f)
        out.append({"fraction": f, "n_train": n, **cells, "gru_minus_lstm": d, "verdict": verdict})
    return out


def plot(records: list[dict[str, Any]], path: Path) -> None:
    """Test metric vs number of training examples, per task; seed mean ± std per cell."""
    plt = pyplot()
    tasks = [t for t in TASKS if any(r["task"] == t for r in records)]
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        rows = gaps(records, task)
        for cell, colour in (("lstm", "tab:blue"), ("gru", "tab:orange")):
            ax.errorbar(
                [g["n_train"] for g in rows],
                [g[cell]["mean"] for g in rows],
                yerr=[g[cell]["std"] for g in rows],
                fmt="o-",
                capsize=3,
                color=colour,
                label=cell.upper(),
            )
        ax.set_xscale("log")
        ax.set_xlabel("training examples (log)")
        ax.set_ylabel(f"test {SELECT_BY[task][0]}")
        ax.set_title(f"{task} (hidden {records[0]['hidden_size']}, mean ± std over seeds)")
        ax.grid(alpha=0.3)
        ax.legend()
    save(fig, path)


def render(section: dict[str, Any]) -> list[str]:
    """Table per task: fraction, examples, LSTM and GRU mean ± std, GRU − LSTM and its verdict."""
    lines = [
        "## Accuracy by training-set size",
        "",
        f"Generated by `{section['command']}`: nested fractions of the training data, the same examples for "
        f"both cells of a seed, {len(section['seeds'])} seeds, hidden {section['hidden_size']}, epochs "
        f"min(base / fraction, {MAX_EPOCH_FACTOR} × base), best validation epoch kept. "
        f"Figure: [{section['figure']}]({section['figure']}).",
        "",
    ]
    for task, rows in section["gaps"].items():
        lines += [
            f"**{task}** (test {SELECT_BY[task][0]})",
            "",
            "| fraction | training examples | LSTM | GRU | GRU − LSTM | verdict (GRU better?) |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {g['fraction']:.0%} | {g['n_train']:,} | {g['lstm']['mean']:.4f} ± {g['lstm']['std']:.4f} | "
            f"{g['gru']['mean']:.4f} ± {g['gru']['std']:.4f} | {g['gru_minus_lstm']:+.4f} | {g['verdict']} |"
            for g in rows
        ]
        lines.append("")
    return lines


def claim_rows(section: dict[str, Any]) -> list[dict[str, str]]:
    """ "GRU works well with smaller data sets": GRU ahead at the smallest fractions, by > 2 SE."""
    small = sorted(section["fractions"])[:2]
    measured, verdicts = [], []
    for task, rows in section["gaps"].items():
        for g in rows:
            if g["fraction"] in small:
                measured.append(f"{task} {g['fraction']:.0%}: GRU − LSTM {g['gru_minus_lstm']:+.4f} ({g['verdict']})")
                verdicts.append(g["verdict"])
    if all(v.startswith("holds") for v in verdicts):
        verdict = "holds (GRU ahead by > 2 SE at every small fraction)"
    elif any(v.startswith("does not hold") for v in verdicts):
        verdict = "does not hold (LSTM ahead by > 2 SE at a small fraction)"
    else:
        verdict = "not resolved (GRU not ahead by > 2 SE at every small fraction)"
    return [
        {
            "claim": "GRU works well with smaller data sets",
            "claimed": "GRU better than LSTM when training data is small",
            "measured": "; ".join(measured) + f" (hidden {section['hidden_size']}, {len(section['seeds'])} seeds)",
            "verdict": verdict,
        }
    ]


def write(models_dir: Path, records: list[dict[str, Any]], command: str) -> dict[str, Any]:
    """Figure + ``sweeps.train_fraction`` + RESULTS.md."""
    plot(records, models_dir / FIGURE)
    tasks = [t for t in TASKS if any(r["task"] == t for r in records)]
    section = {
        "command": command,
        "hidden_size": records[0]["hidden_size"],
        "fractions": sorted({r["fraction"] for r in records}),
        "seeds": sorted({r["seed"] for r in records}),
        "records": records,
        "gaps": {t: gaps(records, t) for t in tasks},
        "figure": FIGURE,
    }
    return save_section(models_dir, "train_fraction", section)


def run(
    models_dir: Path, runs: Path = RUNS, quick: bool = False, data: dict[str, Path] | None = None
) -> dict[str, Any]:
    """The whole sweep (``quick``: 2 fractions × 2 seeds × 1 epoch at hidden 8, on ``data`` if given)."""
    data = data or {}
    fractions, seeds = ((0.5, 1.0), (0, 1)) if quick else (FRACTIONS, SEEDS)
    records = [
        r
        for t in TASKS
        for r in sweep_task(
            t, fractions, seeds, QUICK_EPOCHS if quick else None, 8 if quick else HIDDEN, data.get(t), runs / SUBDIR
        )
    ]
    return write(models_dir, records, "python -m export.sweep_fraction" + (" --quick" if quick else ""))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m export.sweep_fraction", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("models"))
    a = p.parse_args(argv)
    res = run(a.out)
    for row in claim_rows(res["sweeps"]["train_fraction"]):
        print(f"{row['claim']}: {row['verdict']}\n  {row['measured']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
