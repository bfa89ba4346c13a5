"""Accuracy vs latency by model size, per task and cell: ``python -m export.sweep_size``.

Why: the packages are one point per cell (hidden 128), which cannot answer the practitioner's
question "at my latency budget, which cell and size is most accurate?". A smaller LSTM may beat
a larger GRU at equal latency, or the reverse; only a curve per cell shows it.

Every point is trained by the packages' own :func:`train_run` (same data, splits, optimiser) at
reduced epochs (:data:`EPOCHS`), so absolute figures sit below the packages'; LSTM and GRU always
get the same budget, which is what the comparison needs. Latency is the one-shot graph exported
as a package would be (:func:`to_onnx`), raw ``session.run``, batch 1, one intra-op thread, every
cell × size × seed of a task alternating in blocks within one process (:func:`session_latency`).
Records go to ``models/results.json`` ``sweeps.size``; one figure per task to
``models/figures/size_<task>.png``; ``RESULTS.md`` is re-rendered from the json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from export.benchmarks import latency_input, session_latency
from export.data import TASKS, load_task
from export.metrics import SELECT_BY
from export.onnx_export import to_onnx
from export.sweeps import save_section
from export.train import task_config, to_inputs, train_run
from service.runtime.sessions import open_session

SIZES = (32, 64, 128)  # hidden units; 128 is the packages' size
SEEDS = (0, 1, 2)
EPOCHS = {"sentiment": 3, "keywords": 10, "forecast": 2}  # reduced from the packages' 8 / 25 / 5
CELLS = ("lstm", "gru")
FIGURES = "figures"


def sweep_task(
    task: str, sizes: tuple[int, ...], seeds: tuple[int, ...], epochs: int, data_path: Path | None = None
) -> list[dict[str, Any]]:
    """Train and time every size × seed × cell of ``task`` (cells interleaved, as in training)."""
    data = load_task(task, data_path)
    metric, _ = SELECT_BY[task]
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        sessions = {}
        for size in sizes:
            for seed in seeds:
                for cell in CELLS:
                    model, result = train_run(data, cell, seed, task_config(task, hidden=size, epochs=epochs))
                    path = Path(tmp) / f"{cell}-{size}-{seed}.onnx"
                    sample = [data.test[0][i] for i in range(2)] if task == "sentiment" else data.test[0][:2]
                    to_onnx(model, task, to_inputs(task, sample), path)
                    sessions[path.stem] = open_session(path)
                    records.append(
                        {
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
                        }
                    )
        latency = session_latency(sessions, task, latency_input(data))
    for r in records:
        r["raw_p50_ms"] = latency[f"{r['cell']}-{r['hidden_size']}-{r['seed']}"]["median_ms"]
    return records


def mean_points(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One point per cell × size: the mean over seeds of metric value, p50 and parameters."""
    points = []
    for cell in CELLS:
        for size in sorted({r["hidden_size"] for r in records}):
            rs = [r for r in records if r["cell"] == cell and r["hidden_size"] == size]
            if rs:
                points.append(
                    {
                        "cell": cell,
                        "hidden_size": size,
                        "params": rs[0]["params"],
                        "raw_p50_ms": float(np.mean([r["raw_p50_ms"] for r in rs])),
                        "value": float(np.mean([r["value"] for r in rs])),
                        "value_std": float(np.std([r["value"] for r in rs], ddof=1)) if len(rs) > 1 else 0.0,
                    }
                )
    return points


def pareto(points: list[dict[str, Any]], cost: str, higher_is_better: bool) -> list[dict[str, Any]]:
    """Points no other point beats on both ``cost`` (lower) and value, cheapest first."""
    sign = 1 if higher_is_better else -1

    def beats(a: dict[str, Any], b: dict[str, Any]) -> bool:
        no_worse = a[cost] <= b[cost] and sign * a["value"] >= sign * b["value"]
        return bool(no_worse and (a[cost] < b[cost] or sign * a["value"] > sign * b["value"]))

    return sorted((p for p in points if not any(beats(q, p) for q in points)), key=lambda p: p[cost])


def summary(task: str, records: list[dict[str, Any]]) -> str:
    """Which cell the Pareto fronts (by raw latency, by parameters) are made of, in words."""
    metric, higher = SELECT_BY[task]
    points = mean_points(records)
    parts = []
    for cost, label in (("raw_p50_ms", "latency"), ("params", "parameters")):
        front = pareto(points, cost, higher)
        names = ", ".join(f"{p['cell'].upper()}-{p['hidden_size']}" for p in front)
        counts = {cell: sum(p["cell"] == cell for p in front) for cell in CELLS}
        if counts["lstm"] and counts["gru"]:
            verdict = "neither cell wins throughout"
        else:
            verdict = f"{max(counts, key=lambda c: counts[c]).upper()} wins"
        parts.append(f"at equal {label}, {verdict} (Pareto front: {names})")
    return f"{task} ({metric}, {'higher' if higher else 'lower'} is better): " + "; ".join(parts) + "."


def plot(task: str, records: list[dict[str, Any]], path: Path) -> None:
    """Metric vs raw p50 and vs parameters: seeds as dots, seed means joined per cell, front ringed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric, higher = SELECT_BY[task]
    points = mean_points(records)
    colours = {"lstm": "tab:blue", "gru": "tab:orange"}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, cost, label in zip(axes, ("raw_p50_ms", "params"), ("raw session.run p50 (ms)", "parameters"), strict=True):
        for cell in CELLS:
            rs = [r for r in records if r["cell"] == cell]
            ax.scatter([r[cost] for r in rs], [r["value"] for r in rs], s=12, alpha=0.4, color=colours[cell])
            ps = [p for p in points if p["cell"] == cell]
            ax.plot([p[cost] for p in ps], [p["value"] for p in ps], "o-", color=colours[cell], label=cell.upper())
            for p in ps:
                ax.annotate(
                    str(p["hidden_size"]), (p[cost], p["value"]), fontsize=8, xytext=(3, 3), textcoords="offset points"
                )
        front = pareto(points, cost, higher)
        ax.plot([p[cost] for p in front], [p["value"] for p in front], "k--", lw=0.8, label="Pareto front")
        ax.scatter([p[cost] for p in front], [p["value"] for p in front], s=120, facecolors="none", edgecolors="k")
        ax.set_xlabel(label)
        ax.set_ylabel(f"test {metric}")
        if cost == "params":
            ax.set_xscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"{task}: test {metric} vs size (hidden {sorted({r['hidden_size'] for r in records})}, 3 seeds)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render(section: dict[str, Any]) -> list[str]:
    """The ``RESULTS.md`` section: what was run, then one line per task with its figure."""
    lines = [
        "## Accuracy vs latency by size",
        "",
        f"Generated by `{section['command']}`: hidden sizes {section['sizes']} × seeds 0, 1, 2 per task and cell, "
        "at reduced epochs (so below the packages' figures), test metric vs raw `session.run` p50 (batch 1, "
        "1 thread, all points of a task alternating in one process). Per-point records: "
        "`results.json` `sweeps.size.records`.",
        "",
    ]
    for task, text in section["summary"].items():
        lines += [f"- {text} Figure: [{section['figures'][task]}]({section['figures'][task]})"]
    return lines


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
        "figures": {t: f"{FIGURES}/size_{t}.png" for t in all_tasks},
    }
    return save_section(models_dir, "size", section)


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
