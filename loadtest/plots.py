"""PNG plots (matplotlib, Agg backend: headless, works in CI and containers).

The CDF plot uses HdrHistogram's percentile-spectrum style (x = 1/(1-p) on a log axis), where the
tail that decides a latency SLO gets as much room as the median.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from hdrh.histogram import HdrHistogram
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from loadtest.stats import bucket_values, counts_of


def _spectrum(encoded: str) -> tuple[np.ndarray, np.ndarray]:
    """(percentile fraction, latency ms) for every non-empty bucket of an encoded histogram."""
    h = HdrHistogram.decode(encoded.encode("ascii"))
    counts = counts_of(h)
    nz = np.nonzero(counts)[0]
    if nz.size == 0:
        return np.zeros(0), np.zeros(0)
    # Each bucket's value starts where the percentile reached BEFORE it ends, so the max sits at a
    # finite x (1 / (1 - p)) instead of at p = 100 %.
    cum_before = np.concatenate([[0.0], np.cumsum(counts[nz])[:-1]]) / counts.sum()
    return cum_before, bucket_values()[nz] / 1000.0


def _finish(fig: Figure, ax: Axes, path: Path) -> Path:
    """Grid, legend, save and close: the same for every plot."""
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_cdf(doc: dict[str, Any], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ticks = np.array([0.0, 0.5, 0.9, 0.99, 0.999, 0.9999])
    for name, m in doc["models"].items():
        frac, ms = _spectrum(m["histogram_hdr"])
        if frac.size:
            x = 1.0 / (1.0 - frac)
            ax.step(x, ms, where="post", label=f"{name} (p99 {m['p99_ms']:.2f} ms)")
            ax.plot(x[-1:], ms[-1:], "o", color=ax.lines[-1].get_color(), markersize=3)
    ax.set_xscale("log")
    ax.set_xticks(1.0 / (1.0 - ticks))
    ax.set_xticklabels(["0%", "50%", "90%", "99%", "99.9%", "99.99%"])
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (ms)")
    ax.set_title(f"Latency by percentile ({doc['mode_label']})")
    return _finish(fig, ax, path)


def plot_sweep(doc: dict[str, Any], path: Path) -> Path:
    """p50 and p99 against ACHIEVED throughput, one line per model, offered rate annotated."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    names = list(doc["sweep"]["points"][0]["models"]) if doc["sweep"]["points"] else []
    for i, name in enumerate(names):
        pts = [p["models"][name] for p in doc["sweep"]["points"]]
        x = [p["throughput_rps"] for p in pts]
        for key, style in (("p50_ms", "--"), ("p99_ms", "-")):
            ax.plot(x, [p[key] for p in pts], style, marker="o", color=f"C{i}", label=f"{name} {key[:-3]}")
    knee = doc["sweep"].get("knee")
    if knee:
        ax.set_title(f"Latency vs throughput (knee at offered {knee['offered_rps']:g}/s)")
    else:
        ax.set_title("Latency vs throughput (no knee within the swept rates)")
    ax.set_yscale("log")
    ax.set_xlabel("achieved throughput (req/s)")
    ax.set_ylabel("latency (ms), from intended send")
    return _finish(fig, ax, path)
