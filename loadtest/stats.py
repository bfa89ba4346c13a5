"""Percentiles from merged HdrHistograms, and bootstrap confidence intervals over rounds.

Percentiles are never averaged: segments are merged (their bucket counts added) and the
percentile is read from the merged counts, exactly as HdrHistogram does. For an A/B ratio the
unit of resampling is the ROUND (per-request latencies are autocorrelated, rounds are not):
a paired bootstrap draws rounds with replacement, pools those rounds' counts for each model and
takes the ratio of the pooled statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from hdrh.histogram import HdrHistogram

from loadtest.recorder import Segment, new_histogram

PERCENTILES = {"p50_ms": 50.0, "p90_ms": 90.0, "p99_ms": 99.0, "p999_ms": 99.9}


def merge(histograms: Sequence[HdrHistogram]) -> HdrHistogram:
    """A new histogram holding every value of ``histograms``."""
    out = new_histogram()
    for h in histograms:
        out.add(h)
    return out


@lru_cache(maxsize=4)
def _bucket_values(lowest: int, highest: int, digits: int) -> np.ndarray:
    """Highest-equivalent value of every bucket index (what HdrHistogram reports for a percentile)."""
    h = HdrHistogram(lowest, highest, digits)
    return np.array(
        [h.get_highest_equivalent_value(h.get_value_from_index(i)) for i in range(h.counts_len)], dtype=np.float64
    )


def counts_of(h: HdrHistogram) -> np.ndarray:
    return np.ctypeslib.as_array(h.counts)[: h.counts_len].astype(np.int64)


def bucket_values() -> np.ndarray:
    ref = new_histogram()
    return _bucket_values(ref.lowest_trackable_value, ref.highest_trackable_value, ref.significant_figures)


def percentile_from_counts(counts: np.ndarray, values: np.ndarray, percentile: float) -> float:
    """HdrHistogram's ``get_value_at_percentile`` on a raw counts array (0 when empty)."""
    total = int(counts.sum())
    if total == 0:
        return 0.0
    target = max(int(min(percentile, 100.0) * total / 100 + 0.5), 1)
    idx = int(np.searchsorted(np.cumsum(counts), target))
    return float(values[idx])


def summarise_latency(h: HdrHistogram) -> dict[str, float]:
    """p50/p90/p99/p99.9/max/mean in ms from one (merged) histogram."""
    if h.get_total_count() == 0:
        return {**{k: float("nan") for k in PERCENTILES}, "max_ms": float("nan"), "mean_ms": float("nan")}
    out = {key: h.get_value_at_percentile(p) / 1000.0 for key, p in PERCENTILES.items()}
    out["max_ms"] = h.get_max_value() / 1000.0
    out["mean_ms"] = h.get_mean_value() / 1000.0
    return out


def _pooled_stat(
    counts: np.ndarray, values: np.ndarray, stat: str, ok: np.ndarray, elapsed: np.ndarray, phases: dict[str, Any]
) -> float:
    if stat == "throughput_rps":
        return float(ok.sum() / elapsed.sum()) if elapsed.sum() > 0 else float("nan")
    if stat.startswith("server_"):
        sums, ns = phases[stat]
        return float(sums.sum() / ns.sum()) if ns.sum() > 0 else float("nan")
    if stat == "max_ms":
        nz = np.nonzero(counts)[0]
        return float(values[nz[-1]]) / 1000.0 if nz.size else float("nan")
    return percentile_from_counts(counts, values, PERCENTILES[stat]) / 1000.0


def ratio_ci(
    base: Sequence[Segment],
    cand: Sequence[Segment],
    stats: Sequence[str] = (
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "p999_ms",
        "max_ms",
        "throughput_rps",
        "server_inference_ms",
        "server_total_ms",
    ),
    resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, dict[str, float | None]]:
    """``cand/base`` for each statistic: pooled point estimate and a paired percentile-bootstrap CI.

    ``base[i]`` and ``cand[i]`` must be the same round. With fewer than two rounds the CI is
    ``None`` (one round cannot show round-to-round variation).
    """
    if len(base) != len(cand):
        raise ValueError("A/B rounds must be paired")
    values = bucket_values()
    rounds = len(base)
    # Keep only buckets that hold any value: the bootstrap then works on small dense arrays.
    all_counts = [np.stack([counts_of(s.latency) for s in side]) for side in (base, cand)]
    used = np.nonzero(all_counts[0].sum(0) + all_counts[1].sum(0))[0]
    dense = [c[:, used] for c in all_counts]
    vals = values[used]
    oks = [np.array([s.ok for s in side], float) for side in (base, cand)]
    els = [np.array([max(s.elapsed_s, s.duration_s) for s in side], float) for side in (base, cand)]
    # Server-Timing phase means (from each round's sums and counts): the model's own share.
    phases = [
        {
            stat: (
                np.array([s.server_sum_ms.get(stat[7:-3], 0.0) for s in side]),
                np.array([s.server_count.get(stat[7:-3], 0) for s in side], float),
            )
            for stat in stats
            if stat.startswith("server_")
        }
        for side in (base, cand)
    ]
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, rounds, size=(resamples, rounds)) if rounds >= 2 else None
    weights = None if draws is None else np.stack([np.bincount(d, minlength=rounds) for d in draws])
    out: dict[str, dict[str, float | None]] = {}
    for stat in stats:
        a = _pooled_stat(dense[0].sum(0), vals, stat, oks[0], els[0], phases[0])
        b = _pooled_stat(dense[1].sum(0), vals, stat, oks[1], els[1], phases[1])
        point = b / a if a and np.isfinite(a) and np.isfinite(b) else float("nan")
        lo = hi = None
        if weights is not None and np.isfinite(point):
            boots = []
            for w in weights:
                wp = [{k: (w * v[0], w * v[1]) for k, v in side.items()} for side in phases]
                ra = _pooled_stat(w @ dense[0], vals, stat, w * oks[0], w * els[0], wp[0])
                rb = _pooled_stat(w @ dense[1], vals, stat, w * oks[1], w * els[1], wp[1])
                if ra and np.isfinite(ra) and np.isfinite(rb):
                    boots.append(rb / ra)
            if boots:
                tail = (1 - level) / 2 * 100
                lo, hi = (float(v) for v in np.percentile(boots, [tail, 100 - tail]))
        out[stat] = {"ratio": point, "ci_low": lo, "ci_high": hi}
    return out
