"""``models/results.json`` (machine-readable) and the generated ``models/RESULTS.md`` table.

Every figure is put next to the claim it tests. A claim "holds" only when the measured
difference points the claimed way AND exceeds twice its standard error over seeds; otherwise the
table says it is within noise or reversed — the point is to test the claims, not to echo them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np

from export.benchmarks import forecast_baselines, interleaved_latency, latency_input
from export.data import load_task
from export.report import pct, served_with_ci
from service.package import read_package

METRICS = {
    "sentiment": ["accuracy", "f1"],
    "keywords": ["accuracy", "macro_f1"],
    "forecast": ["mse", "mae", "mse_celsius", "mae_celsius"],
}


def stats(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=np.float64)
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0, "n": len(arr)}


def hardware() -> dict[str, Any]:
    cpu = platform.processor()
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30 if hasattr(os, "sysconf") else None
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "memory_gib": round(mem, 1) if mem else None,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "torch_threads": 1,
    }


def summarise(task: str, cell: str, runs: list[dict[str, Any]], package_dir: Path) -> dict[str, Any]:
    package = read_package(package_dir)
    return {
        "parameter_count": runs[0]["parameter_count"],
        "parameter_bytes_fp32": runs[0]["parameter_count"] * 4,
        "onnx_bytes": package.onnx_bytes,
        "seconds_per_epoch": stats([float(np.mean(r["epoch_seconds"])) for r in runs]),
        "seconds_total": stats([float(np.sum(r["epoch_seconds"])) for r in runs]),
        "test": {m: stats([r["test"][m] for r in runs]) for m in METRICS[task]},
        "per_seed": [
            {
                "seed": r["seed"],
                "best_epoch": r["best_epoch"],
                "val": r["val"],
                "test": r["test"],
                "epoch_seconds": r["epoch_seconds"],
            }
            for r in runs
        ],
        "served": {
            "seed": package.training.get("served_seed"),
            "test": package.metrics,
            "parity_max_abs_diff": package.parity.max_abs_diff if package.parity else None,
            "test_ci95": package.training.get("test_ci95"),
        },
    }


def paired_savings(cells: dict[str, Any]) -> list[float]:
    """1 − GRU/LSTM seconds per epoch for each seed, the two runs of a pair back to back."""
    lstm = {r["seed"]: np.mean(r["epoch_seconds"]) for r in cells["lstm"]["per_seed"]}
    return [
        float(1 - np.mean(r["epoch_seconds"]) / lstm[r["seed"]]) for r in cells["gru"]["per_seed"] if r["seed"] in lstm
    ]


def diff_verdict(better: dict[str, float], worse: dict[str, float], higher_is_better: bool) -> tuple[float, str]:
    """Difference in the claimed direction, and whether it clears 2 standard errors."""
    d = (better["mean"] - worse["mean"]) * (1 if higher_is_better else -1)
    se = float(np.sqrt(better["std"] ** 2 / better["n"] + worse["std"] ** 2 / worse["n"]))
    if d > 2 * se and d > 0:
        return d, "holds (direction, > 2 SE)"
    if d < -2 * se and d < 0:
        return d, "does not hold (reversed, > 2 SE)"
    return d, "not resolved (within 2 SE of zero)"


def ratio_verdict(claimed: float, measured: float) -> str:
    if measured <= 0:
        return "does not hold (GRU not faster)"
    if abs(measured - claimed) <= 0.10:
        return "holds (within 10 points)"
    return f"direction only ({'smaller' if measured < claimed else 'larger'} than claimed)"


def ms(s: dict[str, float]) -> str:
    """A mean ± standard deviation over seeds."""
    return f"{s['mean']:.4f} ± {s['std']:.4f}"


def _below(s: dict[str, Any], level: float) -> bool:
    """Whether both cells' mean test F1 is more than 2 points under the claimed ``level``."""
    return all(s[cell]["test"]["f1"]["mean"] < level - 0.02 for cell in ("lstm", "gru"))


def claims(res: dict[str, Any]) -> list[dict[str, str]]:
    t, lat = res["tasks"], res["latency"]
    rows: list[dict[str, str]] = []
    if "sentiment" in t:
        s = t["sentiment"]
        _, v = diff_verdict(s["lstm"]["test"]["f1"], s["gru"]["test"]["f1"], True)
        rows.append(
            {
                "claim": "sentiment F1: LSTM 0.92 vs GRU 0.91",
                "claimed": "LSTM 0.92, GRU 0.91",
                "measured": f"on unseen test sentences: LSTM {ms(s['lstm']['test']['f1'])}, "
                f"GRU {ms(s['gru']['test']['f1'])} over seeds; served "
                + "; ".join(f"{cell.upper()} {served_with_ci(s[cell]['served'])}" for cell in ("lstm", "gru")),
                "verdict": v + "; both far below the claimed level" if _below(s, 0.91) else v,
            }
        )
        speed = 1 - s["gru"]["seconds_per_epoch"]["mean"] / s["lstm"]["seconds_per_epoch"]["mean"]
        pairs = ", ".join(pct(x) for x in paired_savings(s))
        rows.append(
            {
                "claim": "sentiment: GRU trains ~30% faster",
                "claimed": "30% less time per epoch",
                "measured": f"{pct(speed)} less ({s['gru']['seconds_per_epoch']['mean']:.1f} s vs "
                f"{s['lstm']['seconds_per_epoch']['mean']:.1f} s per epoch; per seed pair: {pairs})",
                "verdict": ratio_verdict(0.30, speed),
            }
        )
    if "keywords" in t:
        k = t["keywords"]
        ka = {cell: k[cell]["test"]["accuracy"] for cell in ("lstm", "gru")}
        _, v = diff_verdict(k["lstm"]["test"]["accuracy"], k["gru"]["test"]["accuracy"], True)
        rows.append(
            {
                "claim": "keywords accuracy: LSTM 96.8% vs GRU 96.2%",
                "claimed": "LSTM 96.8%, GRU 96.2%",
                "measured": f"LSTM {pct(ka['lstm']['mean'])} ± {pct(ka['lstm']['std'])}, "
                f"GRU {pct(ka['gru']['mean'])} ± {pct(ka['gru']['std'])}",
                "verdict": v,
            }
        )
    if "keywords" in lat:
        kl = lat["keywords"]
        speed = 1 - kl["gru"]["median_ms"] / kl["lstm"]["median_ms"]
        per_round = [
            1 - g / l_ for g, l_ in zip(kl["gru"]["round_medians_ms"], kl["lstm"]["round_medians_ms"], strict=True)
        ]
        rows.append(
            {
                "claim": "keywords: GRU 35% faster inference",
                "claimed": "35% lower latency",
                "measured": f"{pct(speed)} lower (ORT batch 1, 1 thread: GRU {kl['gru']['median_ms']:.3f} ms vs "
                f"LSTM {kl['lstm']['median_ms']:.3f} ms median; per round "
                f"{pct(min(per_round))} … {pct(max(per_round))})",
                "verdict": ratio_verdict(0.35, speed),
            }
        )
    if "forecast" in t:
        f = t["forecast"]
        gain = 1 - f["lstm"]["test"]["mse"]["mean"] / f["gru"]["test"]["mse"]["mean"]
        _, v = diff_verdict(f["lstm"]["test"]["mse"], f["gru"]["test"]["mse"], False)
        rows.append(
            {
                "claim": "forecast (seasonal, 2+ years): LSTM 8% lower error",
                "claimed": "LSTM MSE 8% below GRU",
                "measured": f"LSTM MSE {ms(f['lstm']['test']['mse'])}, GRU {ms(f['gru']['test']['mse'])} "
                f"(LSTM error {pct(abs(gain))} {'lower' if gain >= 0 else 'higher'})",
                "verdict": v,
            }
        )
    for task in t:
        lp, gp = t[task]["lstm"]["parameter_count"], t[task]["gru"]["parameter_count"]
        lb, gb = t[task]["lstm"]["onnx_bytes"], t[task]["gru"]["onnx_bytes"]
        rows.append(
            {
                "claim": f"{task}: GRU has fewer parameters, needs less memory",
                "claimed": "GRU < LSTM",
                "measured": f"params GRU {gp:,} vs LSTM {lp:,} ({pct(gp / lp)}); ONNX {gb:,} vs {lb:,} bytes",
                "verdict": "holds" if gp < lp and gb < lb else "does not hold",
            }
        )
    from export.sweeps import sweep_claims

    return rows + sweep_claims(res)


def write_results(
    models_dir: Path,
    runs: dict[str, dict[str, list[dict[str, Any]]]],
    tasks: list[str],
    wall_seconds: float,
    command: str = "rnn-serve models",
    data_paths: dict[str, Path] | None = None,
) -> dict[str, Any]:
    import onnx
    import onnxruntime
    import torch

    res: dict[str, Any] = {
        "generated_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "train_export_wall_seconds": round(wall_seconds, 1),
        "hardware": hardware(),
        "versions": {
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
            "numpy": np.__version__,
        },
        "tasks": {},
        "latency": {},
        "baselines": {},
    }
    previous = models_dir / "results.json"
    if previous.is_file():  # a run over some tasks keeps the others' figures (e.g. forecast retrained alone)
        old = json.loads(previous.read_text())
        kept = [t for t in old.get("tasks", {}) if t not in tasks]
        for key in ("tasks", "latency", "baselines"):
            res[key].update({t: v for t, v in old.get(key, {}).items() if t in kept})
        if "sweeps" in old:  # written by export/sweep_size.py, not by this run
            res["sweeps"] = old["sweeps"]
        if kept:
            res["kept_from_previous"] = {
                "tasks": kept,
                "generated_utc": old.get("generated_utc"),
                "command": old.get("command"),
            }
    for task in tasks:
        res["tasks"][task] = {
            cell: summarise(task, cell, runs[task][cell], models_dir / f"{task}-{cell}") for cell in ("lstm", "gru")
        }
        data = load_task(task, (data_paths or {}).get(task))
        pkgs = {cell: models_dir / f"{task}-{cell}" for cell in ("lstm", "gru")}
        res["latency"][task] = interleaved_latency(pkgs, task, latency_input(data))
        if task == "forecast":
            res["baselines"]["forecast"] = forecast_baselines(data)
    order = [t for t in ("sentiment", "keywords", "forecast") if t in res["tasks"]]
    for key in ("tasks", "latency", "baselines"):
        res[key] = {t: res[key][t] for t in order if t in res[key]}
    res["claims"] = claims(res)
    (models_dir / "results.json").write_text(json.dumps(res, indent=2) + "\n")
    from export.report import render_markdown

    (models_dir / "RESULTS.md").write_text(render_markdown(res))
    return res
