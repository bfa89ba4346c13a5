"""Outputs: the terminal summary, ``results.json``, CSV files and PNG plots.

All of them read the one results document from :mod:`loadtest.results`.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

CSV_FIELDS = [
    "mode",
    "offered_rps",
    "model",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "p999_ms",
    "max_ms",
    "mean_ms",
    "throughput_rps",
    "requests_ok",
    "errors",
    "late_requests",
    "send_lag_p99_ms",
    "server_queue_ms",
    "server_preprocess_ms",
    "server_inference_ms",
    "server_postprocess_ms",
    "server_total_ms",
]


def _clean(obj: object) -> object:
    """NaN/inf → null, so results.json is strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def _fmt(x: object, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def summary_table(doc: dict[str, Any]) -> Table:
    """Per-model latency percentiles, throughput, errors and the client's own send lag."""
    title = f"rnn-serve loadtest: {doc['mode_label']}"
    if doc["mode"] == "closed":
        title += " (latency from actual send; hides stalls)"
    table = Table(title=title)
    for col in (
        "model",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "offered/s",
        "achieved/s",
        "ok",
        "errors",
        "late",
        "send-lag p99 ms",
    ):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, m in doc["models"].items():
        table.add_row(
            name,
            _fmt(m["p50_ms"]),
            _fmt(m["p90_ms"]),
            _fmt(m["p99_ms"]),
            _fmt(m["p999_ms"]),
            _fmt(m["max_ms"]),
            _fmt(m["offered_rps"], 1),
            _fmt(m["throughput_rps"], 1),
            str(m["requests_ok"]),
            str(m["errors"]),
            str(m["late_requests"]),
            _fmt(m["send_lag_p99_ms"]),
        )
    return table


def timing_table(doc: dict[str, Any]) -> Table:
    """Client-side time next to the server's Server-Timing phase means: the gap is network + serialisation."""
    table = Table(title="client vs server time (means, ms)")
    for col in (
        "model",
        "client total",
        "client send→done",
        "srv queue",
        "srv preprocess",
        "srv inference",
        "srv postprocess",
        "srv total",
        "outside server",
    ):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, m in doc["models"].items():
        st = m["server_timing_ms"]
        outside = (m["client_service_mean_ms"] - st["total_ms"]) if st.get("total_ms") is not None else None
        table.add_row(
            name,
            _fmt(m["client_mean_ms"], 3),
            _fmt(m["client_service_mean_ms"], 3),
            *(_fmt(st.get(f"{p}_ms"), 3) for p in ("queue", "preprocess", "inference", "postprocess", "total")),
            _fmt(outside, 3),
        )
    return table


def comparison_table(doc: dict[str, Any]) -> Table | None:
    comp = doc.get("comparison")
    if not comp:
        return None
    table = Table(
        title=f"A/B: {comp['candidate']} / {comp['baseline']}  ({comp['rounds']} rounds, 95 % bootstrap CI over rounds)"
    )
    for col in ("statistic", "ratio", "CI low", "CI high"):
        table.add_column(col, justify="right")
    for stat, r in comp["ratios"].items():
        table.add_row(stat, _fmt(r["ratio"], 3), _fmt(r["ci_low"], 3), _fmt(r["ci_high"], 3))
    return table


def print_summary(doc: dict[str, Any], console: Console | None = None) -> None:
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=160)
    console.print(summary_table(doc))
    console.print(timing_table(doc))
    comp = comparison_table(doc)
    if comp is not None:
        console.print(comp)
    if "sweep" in doc:
        sw = doc["sweep"]
        knee = sw["knee"]
        reached = f"{knee['reason']} at {knee['offered_rps']}" if knee else "not reached"
        console.print(f"sweep: rates {sw['rates']}; knee: {reached}; sustainable ≈ {sw['sustainable_rps']} req/s")
    points = doc["sweep"]["points"] if "sweep" in doc else [{"offered_rps": None, "models": doc["models"]}]
    for pt in points:
        for name, m in pt["models"].items():
            if m.get("client_behind"):
                at = f" at {pt['offered_rps']:g} req/s" if pt["offered_rps"] else ""
                console.print(
                    f"[yellow]warning: {name}{at}: {m['late_requests']} of {m['requests_sent']} requests were "
                    f"sent late (send-lag p99 {m['send_lag_p99_ms']:.1f} ms): the CLIENT fell behind; pin it "
                    f"to its own core (taskset) or lower the rate[/]"
                )
    if doc["metadata"]["workload"]["synthetic"]:
        console.print("[yellow]workload: SYNTHETIC (../shared/data absent); pass --data for real inputs[/]")


def csv_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (offered rate, model): every sweep point, or the single run."""
    points = doc["sweep"]["points"] if "sweep" in doc else [{"offered_rps": None, "models": doc["models"]}]
    rows = []
    for pt in points:
        for name, m in pt["models"].items():
            st = m["server_timing_ms"]
            row = {k: m.get(k) for k in CSV_FIELDS if k in m}
            row.update({"mode": doc["mode"], "offered_rps": m["offered_rps"], "model": name})
            row.update(
                {
                    f"server_{p}_ms": st.get(f"{p}_ms")
                    for p in ("queue", "preprocess", "inference", "postprocess", "total")
                }
            )
            rows.append(row)
    return rows


def write_outputs(doc: dict[str, Any], out_dir: Path) -> list[Path]:
    """results.json, results.csv, rounds.csv, latency_cdf.png (+ latency_vs_throughput.png in a sweep)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "results.json", out_dir / "results.csv", out_dir / "rounds.csv"]
    written[0].write_text(json.dumps(_clean(doc), indent=2, allow_nan=False) + "\n")
    with open(written[1], "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(_clean(csv_rows(doc)))  # type: ignore[arg-type]
    with open(written[2], "w", newline="") as fh:
        fields = [
            "model",
            "round",
            "requests_ok",
            "errors",
            "late",
            "throughput_rps",
            "p50_ms",
            "p90_ms",
            "p99_ms",
            "p999_ms",
            "max_ms",
            "mean_ms",
        ]
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for name, m in doc["models"].items():
            for r in m["rounds"]:
                writer.writerow({"model": name, **{k: _clean(r.get(k)) for k in fields if k != "model"}})
    from loadtest.plots import plot_cdf, plot_sweep

    written.append(plot_cdf(doc, out_dir / "latency_cdf.png"))
    if "sweep" in doc:
        written.append(plot_sweep(doc, out_dir / "latency_vs_throughput.png"))
    return written
