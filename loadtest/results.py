"""Turn recorded segments into the results document (what ``results.json`` holds).

One place computes every reported number, so the terminal table, the JSON, the CSV and the plots
can never disagree.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import sys
from importlib import metadata
from typing import Any

from loadtest.config import LoadTestConfig
from loadtest.recorder import PHASES, Segment
from loadtest.runner import RunData, event_loop_name
from loadtest.stats import merge, ratio_ci, summarise_latency

LATENCY_DEFINITION = {
    "open": "open loop: from each request's INTENDED send time to its response (no coordinated omission)",
    "closed": (
        "closed loop (concurrency mode): from the ACTUAL send to the response; workers stop sending "
        "while the server stalls, so these percentiles hide stalls (coordinated omission) and "
        "describe capacity, not user-facing latency"
    ),
}


def _versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for dist in ("rnn-serve", "aiohttp", "hdrhistogram", "numpy", "rich", "matplotlib"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "absent"
    return out


def _machine() -> dict[str, object]:
    info: dict[str, object] = {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }
    try:
        info["cpu_affinity"] = sorted(os.sched_getaffinity(0))
        info["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        pass
    return info


def model_summary(segs: list[Segment]) -> dict[str, Any]:
    """Per-model figures over all rounds: merged histograms, summed counts, phase means."""
    lat = summarise_latency(merge([s.latency for s in segs]))
    lag = merge([s.send_lag for s in segs])
    service = summarise_latency(merge([s.service for s in segs]))
    ok = sum(s.ok for s in segs)
    elapsed = sum(max(s.elapsed_s, s.duration_s) for s in segs)
    errors: dict[str, int] = {}
    for s in segs:
        for kind, n in s.errors.items():
            errors[kind] = errors.get(kind, 0) + n
    server: dict[str, float | None] = {}
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for s in segs:
        for name, v in s.server_sum_ms.items():
            sums[name] = sums.get(name, 0.0) + v
            counts[name] = counts.get(name, 0) + s.server_count[name]
    for name in list(PHASES) + sorted(set(sums) - set(PHASES)):
        server[f"{name}_ms"] = sums[name] / counts[name] if counts.get(name) else None
    offered = segs[0].offered_rps
    return {
        **{k: lat[k] for k in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "mean_ms")},
        "throughput_rps": ok / elapsed if elapsed else 0.0,
        "offered_rps": offered,
        "sent_rps": sum(s.sent for s in segs) / sum(s.duration_s for s in segs),
        "requests_sent": sum(s.sent for s in segs),
        "requests_ok": ok,
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "late_requests": sum(s.late for s in segs),
        # More than 1 % of sends late: the generator, not only the server, shaped these numbers.
        "client_behind": sum(s.late for s in segs) > 0.01 * max(sum(s.sent for s in segs), 1),
        "send_lag_p50_ms": lag.get_value_at_percentile(50) / 1000 if lag.get_total_count() else None,
        "send_lag_p99_ms": lag.get_value_at_percentile(99) / 1000 if lag.get_total_count() else None,
        "send_lag_max_ms": lag.get_max_value() / 1000 if lag.get_total_count() else None,
        "client_mean_ms": lat["mean_ms"],
        "client_service_mean_ms": service["mean_ms"],
        "server_timing_ms": server,
        "rounds": [
            {
                "round": s.round,
                "requests_ok": s.ok,
                "errors": s.error_count,
                "late": s.late,
                "throughput_rps": s.throughput_rps,
                **summarise_latency(s.latency),
            }
            for s in segs
        ],
        "histogram_hdr": merge([s.latency for s in segs]).encode().decode("ascii"),
    }


def _point(cfg: LoadTestConfig, per_model: dict[str, list[Segment]]) -> dict[str, Any]:
    models = {m: model_summary(segs) for m, segs in per_model.items()}
    out: dict[str, Any] = {"models": models}
    if len(cfg.models) >= 2:
        base, cand = cfg.models[0], cfg.models[1]
        out["comparison"] = {
            "baseline": base,
            "candidate": cand,
            "ratio_definition": f"{cand} / {base} (< 1 for latency = {cand} faster)",
            "ci": "paired percentile bootstrap over rounds, 95 %",
            "rounds": cfg.rounds,
            "ratios": ratio_ci(per_model[base], per_model[cand], resamples=cfg.bootstrap_resamples, seed=cfg.seed),
        }
    return out


def build_results(cfg: LoadTestConfig, data: RunData) -> dict[str, Any]:
    """The whole results document. In a sweep, ``models`` is the last rate before the knee."""
    sources = {m: ex.source for m, ex in data.prepared.examples.items()}
    synthetic = any(ex.synthetic for ex in data.prepared.examples.values())
    settings = {
        k: (str(v) if v is not None and k in {"data", "model_repository", "output"} else v)
        for k, v in vars(cfg).items()
    }
    doc: dict[str, Any] = {
        "metadata": {
            "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "tool": "rnn-serve loadtest",
            "settings": settings,
            "versions": {**_versions(), "event_loop": event_loop_name()},
            "machine": _machine(),
            "workload": {
                "sources": sources,
                "synthetic": synthetic,
                "payloads_per_model": {m: len(p) for m, p in data.prepared.payloads.items()},
                "v2_preprocessing_from": data.prepared.v2_config or None,
            },
        },
        "mode": cfg.mode,
        "mode_label": "open loop" if cfg.mode == "open" else "closed loop (concurrency mode)",
        "latency_definition": LATENCY_DEFINITION[cfg.mode],
    }
    points = {rate: _point(cfg, per_model) for rate, per_model in data.points.items()}
    if cfg.sweep:
        rates = list(points)
        below = [r for r in rates if data.knee is None or r != data.knee["offered_rps"]]
        chosen = below[-1] if below else rates[-1]
        doc.update(points[chosen])
        doc["sweep"] = {
            "rates": rates,
            "planned_rates": cfg.sweep_rates(),
            "knee": data.knee,
            "sustainable_rps": chosen if below else None,
            "points": [{"offered_rps": r, **p} for r, p in points.items()],
        }
    else:
        doc.update(next(iter(points.values())))
    return doc
