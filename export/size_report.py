"""What the size sweep says: Pareto fronts, the default size, the figure, the report and its verdicts.

Split from ``export/sweep_size.py`` (which trains and times) because reading the curves is its
own job: the same records answer "which cell at equal latency?" (served and raw), "which at equal
parameters?", "which size should ship?" and "does the GRU train ~30 % / infer ~35 % faster at
every size?".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from export.figures import pyplot, save
from export.metrics import SELECT_BY
from export.report import pct
from export.results import ratio_verdict

CELLS = ("lstm", "gru")
#: the costs a front is drawn against, and how the report names them
COSTS = {"served_p50_ms": "served latency", "raw_p50_ms": "raw latency", "params": "parameters"}
AXIS = {
    "served_p50_ms": "served p50, task route, c=1 (ms)",
    "raw_p50_ms": "raw session.run p50 (ms)",
    "params": "parameters",
}


def mean_points(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One point per cell × size: the mean over seeds of metric value, latencies and parameters."""
    points = []
    for cell in CELLS:
        for size in sorted({r["hidden_size"] for r in records}):
            rs = [r for r in records if r["cell"] == cell and r["hidden_size"] == size]
            if rs:
                values = [r["value"] for r in rs]
                point: dict[str, Any] = {"cell": cell, "hidden_size": size, "params": rs[0]["params"]}
                for key in ("raw_p50_ms", "served_p50_ms"):
                    if key in rs[0]:
                        point[key] = float(np.mean([r[key] for r in rs]))
                point["value"] = float(np.mean(values))
                point["value_std"] = float(np.std(values, ddof=1)) if len(rs) > 1 else 0.0
                points.append(point)
    return points


def pareto(points: list[dict[str, Any]], cost: str, higher_is_better: bool) -> list[dict[str, Any]]:
    """Points no other point beats on both ``cost`` (lower) and value, cheapest first."""
    sign = 1 if higher_is_better else -1

    def beats(a: dict[str, Any], b: dict[str, Any]) -> bool:
        no_worse = a[cost] <= b[cost] and sign * a["value"] >= sign * b["value"]
        return bool(no_worse and (a[cost] < b[cost] or sign * a["value"] > sign * b["value"]))

    return sorted((p for p in points if not any(beats(q, p) for q in points)), key=lambda p: p[cost])


def summary(task: str, records: list[dict[str, Any]]) -> str:
    """Which cell each Pareto front (served latency, raw latency, parameters) is made of, in words."""
    metric, higher = SELECT_BY[task]
    points = mean_points(records)
    parts = []
    for cost, label in COSTS.items():
        if not all(cost in p for p in points):
            continue
        front = pareto(points, cost, higher)
        names = ", ".join(f"{p['cell'].upper()}-{p['hidden_size']}" for p in front)
        counts = {cell: sum(p["cell"] == cell for p in front) for cell in CELLS}
        if counts["lstm"] and counts["gru"]:
            verdict = "neither cell wins throughout"
        else:
            verdict = f"{max(counts, key=lambda c: counts[c]).upper()} wins"
        parts.append(f"at equal {label}, {verdict} (Pareto front: {names})")
    return f"{task} ({metric}, {'higher' if higher else 'lower'} is better): " + "; ".join(parts) + "."


def default_size(task: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The size to ship: the smallest whose validation score is within one standard error of the best.

    Validation, not test (the test split stays out of every choice); both cells' seeds pooled per
    size, so LSTM and GRU ship at one size and stay comparable.
    """
    _, higher = SELECT_BY[task]
    sign = 1 if higher else -1
    by_size = {}
    for size in sorted({r["hidden_size"] for r in records}):
        vals = [r["val_value"] for r in records if r["hidden_size"] == size]
        se = float(np.std(vals, ddof=1) / np.sqrt(len(vals))) if len(vals) > 1 else 0.0
        by_size[size] = (float(np.mean(vals)), se)
    best = max(by_size, key=lambda s: sign * by_size[s][0])
    chosen = min(s for s, (m, _) in by_size.items() if sign * (by_size[best][0] - m) <= by_size[best][1])
    return {
        "hidden_size": chosen,
        "best_hidden_size": best,
        "val_mean": {str(s): m for s, (m, _) in by_size.items()},
        "rule": "smallest size whose mean validation score (both cells, all seeds) is within one "
        "standard error of the best size's",
    }


def savings(records: list[dict[str, Any]], key: str) -> dict[tuple[str, int], float]:
    """1 − GRU/LSTM of ``key`` per task × size: the median over seeds of the seed pairs."""
    out = {}
    for task in dict.fromkeys(r["task"] for r in records):
        for size in sorted({r["hidden_size"] for r in records if r["task"] == task}):
            rs = {
                (r["cell"], r["seed"]): r[key]
                for r in records
                if r["task"] == task and r["hidden_size"] == size and key in r
            }
            pairs = [1 - rs[("gru", s)] / rs[("lstm", s)] for c, s in rs if c == "lstm" and ("gru", s) in rs]
            if pairs:
                out[(task, size)] = float(np.median(pairs))
    return out


def plot(task: str, records: list[dict[str, Any]], path: Path) -> None:
    """Metric vs served p50, raw p50 and parameters: seeds as dots, seed means joined per cell, front ringed."""
    plt = pyplot()
    metric, higher = SELECT_BY[task]
    points = mean_points(records)
    costs = [c for c in AXIS if all(c in r for r in records)]
    colours = {"lstm": "tab:blue", "gru": "tab:orange"}
    fig, axes = plt.subplots(1, len(costs), figsize=(5 * len(costs), 4), squeeze=False)
    for ax, cost in zip(axes[0], costs, strict=True):
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
        ax.set_xlabel(AXIS[cost])
        ax.set_ylabel(f"test {metric}")
        if cost == "params":
            ax.set_xscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    seeds = len({r["seed"] for r in records})
    fig.suptitle(f"{task}: test {metric} vs size (hidden {sorted({r['hidden_size'] for r in records})}, {seeds} seeds)")
    save(fig, path)


def render(section: dict[str, Any]) -> list[str]:
    """What was run, a table per task (cell × size), the fronts in words, and the default size."""
    lines = [
        "## Accuracy vs latency by size",
        "",
        f"Generated by `{section['command']}`: hidden sizes {section['sizes']} × seeds 0, 1, 2 per task and cell, "
        "at reduced epochs (so below the packages' figures). Latency per point: raw `session.run` p50 (batch 1, "
        "1 thread) and served p50 (the real server, task route, one connection, c=1), all points of a task "
        "alternating in blocks in one process / one server. Training seconds per epoch: seeds interleaved "
        "LSTM/GRU, torch threads = 1. Per-point records: `results.json` `sweeps.size.records`.",
        "",
    ]
    records = section["records"]
    train, served = savings(records, "seconds_per_epoch"), savings(records, "served_p50_ms")
    for task, text in section["summary"].items():
        metric, _ = SELECT_BY[task]
        lines += [
            f"**{task}** — [{section['figures'][task]}]({section['figures'][task]})",
            "",
            f"| hidden | cell | params | test {metric} (mean ± std) | raw p50 ms | served p50 ms | s / epoch |",
            "|---|---|---|---|---|---|---|",
        ]
        for p in mean_points([r for r in records if r["task"] == task]):
            spe = np.mean(
                [
                    r["seconds_per_epoch"]
                    for r in records
                    if r["task"] == task and r["cell"] == p["cell"] and r["hidden_size"] == p["hidden_size"]
                ]
            )
            lines.append(
                f"| {p['hidden_size']} | {p['cell'].upper()} | {p['params']:,} | "
                f"{p['value']:.4f} ± {p['value_std']:.4f} | {p['raw_p50_ms']:.3f} | "
                f"{p.get('served_p50_ms', float('nan')):.3f} | {spe:.2f} |"
            )
        sizes = sorted({r["hidden_size"] for r in records if r["task"] == task})
        lines += [
            "",
            f"- {text}",
            "- GRU saving (1 − GRU/LSTM, median of seed pairs) by size: training "
            + ", ".join(f"h{s} {pct(train[(task, s)])}" for s in sizes)
            + "; served latency "
            + ", ".join(f"h{s} {pct(served[(task, s)])}" for s in sizes if (task, s) in served)
            + ".",
        ]
        d = section.get("defaults", {}).get(task)
        if d:
            lines.append(f"- Default size: hidden {d['hidden_size']} ({d['rule']}; best: {d['best_hidden_size']}).")
        lines.append("")
    return lines


def claim_rows(section: dict[str, Any]) -> list[dict[str, str]]:
    """ "GRU trains ~30 % faster" and "GRU infers ~35 % faster", at every task × size of the sweep."""
    rows = []
    for key, claim, claimed, level in (
        ("seconds_per_epoch", "GRU trains ~30% faster (every task and size)", "30% less time per epoch", 0.30),
        ("served_p50_ms", "GRU infers ~35% faster, served (every task and size)", "35% lower served p50", 0.35),
    ):
        found = savings(section["records"], key) if all(key in r for r in section["records"]) else {}
        if not found:
            continue
        holds = [f"{t} h{s}" for (t, s), v in found.items() if ratio_verdict(level, v).startswith("holds")]
        faster = sum(v > 0 for v in found.values())
        lines = ", ".join(f"{t} h{s} {pct(v)}" for (t, s), v in found.items())
        verdict = (
            f"holds (within 10 points) at {len(holds)} of {len(found)} points"
            + (f" ({', '.join(holds)})" if holds else "")
            + f"; GRU faster at {faster} of {len(found)}"
        )
        rows.append({"claim": claim, "claimed": claimed, "measured": lines, "verdict": verdict})
    return rows
