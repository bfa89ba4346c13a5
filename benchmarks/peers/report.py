"""Medians over rounds, ratios against MLServer with adaptive batching, the markdown table.

Every figure is the median of its per-round values; the ratios are of those medians. Derived:

* ``c1_over_raw_ms``: c=1 p50 − raw ``session.run`` p50 (what serving adds to one request);
* ``outside_ms``: server CPU per request at c=1 (whole process tree, user + system) − raw
  ``session.run``: the per-request CPU outside the model;
* ``c1_ratio``, ``c1_p50_ratio`` and ``c32_ratio``: this framework's ``c1_over_raw_ms``, c=1 p50
  and c=32 req/s over the baseline's (< 1 is better for the first two, > 1 for the third).
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.peers.servers import BASELINE, LABELS

Rounds = list[dict[str, float]]
#: model → framework → per-round figures
Results = dict[str, dict[str, Rounds]]


def medians(rounds: Rounds) -> dict[str, float]:
    """The median of every key over the rounds that have it."""
    keys = sorted({k for r in rounds for k in r})
    return {k: statistics.median([r[k] for r in rounds if k in r]) for k in keys}


def summarise(results: Results, raw_ms: dict[str, list[float]]) -> dict[str, dict[str, dict[str, float]]]:
    """model → framework → medians plus the derived figures (module docstring)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for model, frameworks in results.items():
        raw = statistics.median(raw_ms[model])
        rows = {fw: {**medians(rounds), "raw_ms": raw} for fw, rounds in frameworks.items()}
        for row in rows.values():
            row["c1_over_raw_ms"] = row["c1_p50_ms"] - raw
            row["outside_ms"] = row["c1_cpu_ms"] - raw
        base = rows.get(BASELINE)
        for row in rows.values():
            if base is not None:
                row["c1_ratio"] = row["c1_over_raw_ms"] / base["c1_over_raw_ms"]
                row["c1_p50_ratio"] = row["c1_p50_ms"] / base["c1_p50_ms"]
                row["c32_ratio"] = row["c32_rps"] / base["c32_rps"]
        out[model] = rows
    return out


def errors(results: Results) -> str:
    """One line: every block that had failed requests (non-2xx or socket errors), or that none had."""
    found = [
        f"{model} {fw} round {i} {key.removesuffix('_errors')}: {row[key]:.0f}"
        for model, frameworks in results.items()
        for fw, rounds in frameworks.items()
        for i, row in enumerate(rounds)
        for key in sorted(row)
        if key.endswith("errors") and row[key]
    ]
    return "Failed requests: " + ("; ".join(found) if found else "none") + "."


def _cell(row: dict[str, float], key: str, fmt: str) -> str:
    return format(row[key], fmt) if key in row else "—"


def table(model: str, rows: dict[str, dict[str, float]], rate: float | None) -> str:
    """One model's markdown table, a row per framework in :data:`LABELS` order."""
    ol = f"open loop {rate:.0f} req/s p50 / p99 (ms)" if rate else "open loop p50 / p99 (ms)"
    head = [
        "framework",
        "c=1 p50 (ms)",
        "c=1 p50 − raw (ms)",
        "× MLServer+AB",
        "c=8 req/s",
        "c=32 req/s",
        "× MLServer+AB",
        ol,
        "CPU / request (ms)",
        "outside `session.run` (ms)",
    ]
    lines = [
        f"**{model}** (raw `session.run` p50 {next(iter(rows.values()))['raw_ms']:.3f} ms)",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for fw in (f for f in LABELS if f in rows):
        r = rows[fw]
        ol_cell = f"{r['ol_p50_ms']:.2f} / {r['ol_p99_ms']:.2f}" if "ol_p50_ms" in r else "—"
        cells = [
            LABELS[fw],
            _cell(r, "c1_p50_ms", ".3f"),
            _cell(r, "c1_over_raw_ms", "+.3f"),
            _cell(r, "c1_ratio", ".2f"),
            _cell(r, "c8_rps", ",.0f"),
            _cell(r, "c32_rps", ",.0f"),
            _cell(r, "c32_ratio", ".2f"),
            ol_cell,
            _cell(r, "c1_cpu_ms", ".3f"),
            _cell(r, "outside_ms", ".3f"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def headline(summary: dict[str, dict[str, dict[str, float]]], framework: str = "rnn-serve-on") -> str:
    """One line: ``framework`` against the baseline, per model, at c=32 and at c=1."""
    parts = []
    for model, rows in summary.items():
        r = rows.get(framework, {})
        if "c32_ratio" in r:
            parts.append(
                f"{model}: {r['c32_ratio']:.2f}× the c=32 throughput, {r['c1_ratio']:.2f}× the c=1 p50 − raw "
                f"({r['c1_p50_ratio']:.2f}× the c=1 p50)"
            )
    return f"{LABELS[framework]} vs {LABELS[BASELINE]}: " + "; ".join(parts) if parts else ""


def report(summary: dict[str, dict[str, dict[str, float]]], rates: dict[str, float], header: str) -> str:
    """The whole markdown report: the header, a table per model, the headline."""
    tables = [table(model, rows, rates.get(model)) for model, rows in summary.items()]
    return "\n\n".join([header, *tables, headline(summary)]) + "\n"


def as_json(summary: dict[str, dict[str, dict[str, float]]], results: Results, **meta: Any) -> dict[str, Any]:
    return {"meta": meta, "summary": summary, "rounds": results}
