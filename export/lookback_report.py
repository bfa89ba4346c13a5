"""What the look-back sweep says: per-look-back comparisons, the regime verdict, figure and report.

Split from ``export/sweep_lookback.py`` (which trains): the records answer "does either cell's
advantage grow with look-back and with the length of the series?" and the claim "LSTM 8 % lower
error on seasonal series spanning 2+ years" in its regime (:data:`REGIME`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from export.report import pct
from export.results import diff_verdict, ms, stats

CELLS = ("lstm", "gru")
REGIME = ("beijing", 720)  # the claim's regime: the 5-year series, look-back ≥ 720 h
NAMES = {"etth1": "ETTh1 (2 y)", "beijing": "Beijing (5 y)", "synthetic": "synthetic"}
BASELINES = {"seasonal_naive_24h": "naive 24 h", "seasonal_naive_168h": "naive 168 h", "ridge_target_lookback": "ridge"}


def compare(records: list[dict[str, Any]], dataset: str, lookbacks: list[int]) -> dict[str, Any]:
    """Both cells' test MSE over seeds (each seed's averaged over ``lookbacks``), LSTM's gain, 2-SE verdict."""
    rs = [r for r in records if r["dataset"] == dataset and r["lookback"] in lookbacks]
    seeds = sorted({r["seed"] for r in rs})
    s = {
        c: stats([float(np.mean([r["mse"] for r in rs if r["cell"] == c and r["seed"] == k])) for k in seeds])
        for c in CELLS
    }
    _, verdict = diff_verdict(s["lstm"], s["gru"], False)
    gain = 1 - s["lstm"]["mean"] / s["gru"]["mean"]
    return {"dataset": dataset, "lookbacks": lookbacks, **s, "lstm_gain": gain, "verdict": verdict}


def comparisons(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One :func:`compare` per dataset × look-back, datasets in run order, look-backs ascending."""
    order = list(dict.fromkeys(r["dataset"] for r in records))
    keys = sorted(
        dict.fromkeys((r["dataset"], r["lookback"]) for r in records), key=lambda k: (order.index(k[0]), k[1])
    )
    return [{**compare(records, d, [lb]), "lookback": lb} for d, lb in keys]


def regime(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The claim's regime (5-year series, look-back ≥ 720 h); None when the run did not reach it."""
    dataset, shortest = REGIME
    lookbacks = sorted({r["lookback"] for r in records if r["dataset"] == dataset and r["lookback"] >= shortest})
    return compare(records, dataset, lookbacks) if lookbacks else None


def _growth(first: dict[str, Any], last: dict[str, Any]) -> str | None:
    """The cell whose advantage is resolved at ``last`` and larger there than at ``first``, if any."""
    if last["verdict"].startswith("not resolved"):
        return None
    sign = 1 if last["lstm_gain"] > 0 else -1
    return ("LSTM" if sign > 0 else "GRU") if sign * last["lstm_gain"] > sign * first["lstm_gain"] else None


def answer(rows: list[dict[str, Any]]) -> str:
    """One sentence: does either cell's advantage grow with look-back, and with the series' length?"""
    parts, by_lookback = [], []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        rs = [r for r in rows if r["dataset"] == dataset]
        gains = ", ".join(f"{r['lookback']} h {100 * r['lstm_gain']:+.1f}%" for r in rs)
        resolved = sum(not r["verdict"].startswith("not resolved") for r in rs)
        parts.append(f"{NAMES.get(dataset, dataset)} {gains} ({resolved} of {len(rs)} beyond 2 SE)")
        cell = _growth(rs[0], rs[-1]) if len(rs) > 1 else None
        if cell:
            by_lookback.append(f"{cell}'s advantage on {NAMES.get(dataset, dataset)}")
    text = (
        f"with look-back, yes: {' and '.join(by_lookback)} grows"
        if by_lookback
        else "with look-back, no: no cell's advantage is both beyond 2 SE at the longest look-back and larger there"
    )
    longest = {r["dataset"]: r for r in rows if r["lookback"] == max(x["lookback"] for x in rows)}
    if {"etth1", "beijing"} <= set(longest):
        cell = _growth(longest["etth1"], longest["beijing"])
        text += (
            f"; with series length, {'yes: ' + cell + ' gains more' if cell else 'no'} on the 5-year series "
            f"at {longest['beijing']['lookback']} h ({100 * longest['beijing']['lstm_gain']:+.1f}% vs "
            f"{100 * longest['etth1']['lstm_gain']:+.1f}% on the 2-year one)"
        )
    return (
        f"Does either cell's advantage grow with look-back or series length? {text[0].upper()}{text[1:]}. "
        f"LSTM's MSE gain over GRU (1 − LSTM/GRU) by look-back: {'; '.join(parts)}."
    )


def summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The comparisons per dataset × look-back, the claim's regime, and the answer in words."""
    rows = comparisons(records)
    return {"comparisons": rows, "regime": regime(records), "answer": answer(rows)}


def plot(records: list[dict[str, Any]], base: list[dict[str, Any]], path: Path) -> None:
    """Test MSE vs look-back per data set: cells with seed error bars, baselines dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(r["dataset"] for r in records))
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4), squeeze=False)
    colours = {"lstm": "tab:blue", "gru": "tab:orange"}
    styles = {"seasonal_naive_24h": "grey", "seasonal_naive_168h": "tab:brown", "ridge_target_lookback": "tab:green"}
    for ax, row in zip(
        axes[0], [[c for c in comparisons(records) if c["dataset"] == d] for d in datasets], strict=True
    ):
        xs = [c["lookback"] for c in row]
        for cell in CELLS:
            ax.errorbar(
                xs,
                [c[cell]["mean"] for c in row],
                yerr=[c[cell]["std"] for c in row],
                marker="o",
                capsize=3,
                color=colours[cell],
                label=cell.upper(),
            )
        for name, colour in styles.items():
            bs = sorted(
                (b["lookback"], b["mse"]) for b in base if b["dataset"] == row[0]["dataset"] and b["name"] == name
            )
            if bs:
                ax.plot(*zip(*bs, strict=True), "x--", color=colour, label=BASELINES[name])
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_xlabel("look-back (h)")
        ax.set_ylabel(f"test MSE (z-scored {records[0]['horizon']}-h forecast)")
        ax.set_title(NAMES.get(row[0]["dataset"], row[0]["dataset"]))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("LSTM vs GRU by look-back (mean ± std over seeds)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render(section: dict[str, Any]) -> list[str]:
    """The ``RESULTS.md`` section: the table of cells and baselines, then the answer."""
    b, fig = section["budget"], section["figures"]["lookback"]
    lines = [
        "## LSTM vs GRU by look-back (long seasonal series)",
        "",
        f"Generated by `{section['command']}`: {section['horizon']}-h forecasts of the z-scored target from "
        f"look-backs {', '.join(map(str, section['lookbacks']))} h, seeds {', '.join(map(str, section['seeds']))}, "
        f"hidden {b['hidden']}, {b['train_windows']} train windows × {b['epochs']} epochs for every look-back, best "
        f"epoch on validation; baselines on the same test windows. Run time {section['seconds']['wall'] / 60:.1f} min "
        f"wall, {section['seconds']['cpu'] / 60:.1f} min CPU, pinned to one core. Records: `results.json` "
        f"`sweeps.lookback`. Figure: [{fig}]({fig})",
        "",
        "| data set | look-back (h) | LSTM MSE | GRU MSE | LSTM gain | verdict | naive 24 h | naive 168 h | ridge |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in section["summary"]["comparisons"]:
        base = {
            x["name"]: f"{x['mse']:.4f}"
            for x in section["baselines"]
            if x["dataset"] == c["dataset"] and x["lookback"] == c["lookback"]
        }
        lines.append(
            f"| {NAMES.get(c['dataset'], c['dataset'])} | {c['lookback']} | {ms(c['lstm'])} | {ms(c['gru'])} | "
            f"{100 * c['lstm_gain']:+.1f}% | {c['verdict']} | "
            + " | ".join(base.get(name, "–") for name in BASELINES)
            + " |"
        )
    return [*lines, "", section["summary"]["answer"]]


def claim_rows(section: dict[str, Any]) -> list[dict[str, str]]:
    """The 8 % claim scored in its regime, by the packages' 2-SE rule."""
    r = regime(section["records"])
    row = {
        "claim": "forecast (seasonal, 2+ years): LSTM 8% lower error, in its regime (look-back ≥ 720 h, 5-year series)",
        "claimed": "LSTM MSE 8% below GRU",
    }
    if r is None:
        return [{**row, "measured": "no Beijing look-back ≥ 720 h in this run", "verdict": "not measured"}]
    gain = r["lstm_gain"]
    measured = (
        f"Beijing TEMP, look-backs {', '.join(map(str, r['lookbacks']))} h (each seed's MSE averaged over them): "
        f"LSTM {ms(r['lstm'])}, GRU {ms(r['gru'])} (LSTM error {pct(abs(gain))} {'lower' if gain >= 0 else 'higher'})"
    )
    return [{**row, "measured": measured, "verdict": r["verdict"]}]
