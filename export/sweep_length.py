"""Accuracy by sequence length, LSTM vs GRU: ``python -m export.sweep_length``.

Why: the sources say "GRU for shorter sequences (like tweets), LSTM for longer ones". The
held-out test examples already span a range of lengths, so the claim is testable without new
training: score every model of the size sweep and the served packages per length bucket.

- **Sentiment**: whole held-out test sentences, bucketed by the number of tokens the model reads
  (≤ 10, 11–20, 21–30, > 30). **Keywords**: test clips bucketed by utterance duration at the
  quartiles of the test set. The forecasting side of the claim (look-back length) is the
  look-back sweep's (``sweeps.lookback``).
- **Models**: every cell × hidden size × seed of ``sweeps.size`` (their per-example test outputs
  are cached beside their packages by ``export/sweep_size.py``), plus the served packages.
- **Paired bootstrap**: per bucket, GRU − LSTM accuracy with a 95 % interval from resampling
  test examples and seeds together (the same draw for both cells, so what is shared cancels).
  The claim itself is an *interaction* — GRU relatively better on short inputs, LSTM on long —
  so the verdict is on (GRU − LSTM)[shortest] − (GRU − LSTM)[longest], pooled over sizes and
  seeds: it holds when that interval excludes zero on the claimed side.
"""

from __future__ import annotations

import argparse
import warnings
import wave
from pathlib import Path
from typing import Any

import numpy as np

from export.data import FSDD_DIR, KEYWORD_TEST_TAKES, TaskData, list_fsdd, load_task
from export.evaluate import open_package, run_outputs
from export.figures import pyplot, save
from export.sweep_size import CELLS, OUTPUTS_FILE, RUNS, SUBDIR, parse_point
from export.sweeps import save_section

TASKS = ("sentiment", "keywords")
TOKEN_EDGES = (10, 20, 30)  # sentiment buckets: ≤ 10, 11–20, 21–30, > 30 tokens
N_BOOT = 2000
FIGURES = "figures"


def bucket_labels(edges: tuple[float, ...], unit: str) -> list[str]:
    """``["≤ 10 tokens", "11–20 tokens", ...]`` (integers) or ``["≤ 0.41 s", "0.41–0.52 s", ...]``."""
    step = 1 if unit == "tokens" else 0
    fmt = "{:g}" if unit == "tokens" else "{:.2f}"
    lows = [fmt.format(e + step) for e in edges]
    labels = [f"≤ {fmt.format(edges[0])} {unit}"]
    labels += [f"{lo}–{fmt.format(hi)} {unit}" for lo, hi in zip(lows, edges[1:], strict=False)]
    return [*labels, f"> {fmt.format(edges[-1])} {unit}"]


def lengths(task: str, data: TaskData, fsdd: Path = FSDD_DIR) -> np.ndarray:
    """Per test example: tokens read (sentiment) or seconds of audio (keywords), in test order."""
    if task == "sentiment":
        return np.array([len(x) for x in data.test[0]], dtype=np.float64)
    takes = [f[0] for f in list_fsdd(fsdd) if f[3] in KEYWORD_TEST_TAKES]
    out = []
    for path in takes:
        with wave.open(str(path), "rb") as wav:
            out.append(wav.getnframes() / wav.getframerate())
    return np.array(out)


def edges_for(task: str, lens: np.ndarray) -> tuple[float, ...]:
    """Fixed token edges for sentiment; duration quartiles (to 0.01 s) for keywords."""
    if task == "sentiment":
        return TOKEN_EDGES
    return tuple(float(np.round(q, 2)) for q in np.quantile(lens, [0.25, 0.5, 0.75]))


def paired_diff(
    lstm: np.ndarray, gru: np.ndarray, masks: list[np.ndarray], rng: np.random.Generator, n_boot: int = N_BOOT
) -> tuple[list[dict[str, float]], dict[str, float]]:
    """GRU − LSTM accuracy per bucket and the short-vs-long interaction, with 95 % bootstrap intervals.

    ``lstm``/``gru``: ``(runs, examples)`` booleans (correct or not), row ``k`` of one paired with
    row ``k`` of the other (same size and seed). Each draw resamples rows and examples once and
    applies the same draw to both cells.
    """
    runs, n = lstm.shape
    diff = gru.astype(np.float64) - lstm.astype(np.float64)

    def stats(d: np.ndarray, ms: list[np.ndarray]) -> list[float]:
        per = [float(d[:, m].mean()) if m.any() else float("nan") for m in ms]
        return [*per, per[0] - per[-1]]

    point = stats(diff, masks)
    draws = np.empty((n_boot, len(point)))
    for b in range(n_boot):
        idx = rng.integers(n, size=n)  # the examples drawn keep their own buckets
        draws[b] = stats(diff[rng.integers(runs, size=runs)][:, idx], [m[idx] for m in masks])
    with warnings.catch_warnings():  # an empty bucket has no interval: NaN, not a warning per draw
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanpercentile(draws, [2.5, 97.5], axis=0)
    cis = [{"diff": p, "lo": float(a), "hi": float(c)} for p, a, c in zip(point, lo, hi, strict=True)]
    return cis[:-1], cis[-1]


def correct(outputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return np.asarray(outputs.argmax(axis=1) == labels)


Key = tuple[str, str, int, int]  # (source, cell, hidden size, seed)


def models_of(task: str, data: TaskData, runs: Path, models: Path) -> dict[Key, np.ndarray]:
    """Correctness per test example of every cached size-sweep point and of the served packages."""
    found: dict[Key, np.ndarray] = {}
    for path in sorted((runs / task / "points").glob(f"*/{OUTPUTS_FILE}")):
        _, cell, h, s = parse_point(path.parent.name)
        found[("size sweep", cell, h, s)] = correct(np.load(path), data.test[1])
    for cell in CELLS:
        if (models / f"{task}-{cell}").is_dir():
            session, package = open_package(models / f"{task}-{cell}")
            key = ("served package", cell, int(package.training["hidden_size"]), int(package.training["served_seed"]))
            found[key] = correct(run_outputs(session, task, data.test[0]), data.test[1])
    return found


def analyse(task: str, data: TaskData, lens: np.ndarray, runs: Path, models: Path, seed: int = 0) -> dict[str, Any]:
    """Records per model × bucket, bootstrap per hidden size (and pooled), for one task."""
    edges = edges_for(task, lens)
    which = np.digitize(lens, edges, right=True)
    masks = [which == b for b in range(len(edges) + 1)]
    labels = bucket_labels(edges, "tokens" if task == "sentiment" else "s")
    found = models_of(task, data, runs, models)
    records = [
        {
            "task": task,
            "cell": cell,
            "hidden_size": h,
            "seed": s,
            "source": source,
            "bucket": labels[b],
            "n": int(m.sum()),
            "accuracy": float(c[m].mean()) if m.any() else float("nan"),
        }
        for (source, cell, h, s), c in found.items()
        for b, m in enumerate(masks)
    ]
    rng = np.random.default_rng(seed)
    by_size: dict[str, Any] = {}
    pooled_l, pooled_g = [], []
    sweep = "size sweep"
    for h in sorted({h for src, _, h, _ in found if src == sweep}):
        seeds = sorted(
            s for src, c, hh, s in found if (src, c, hh) == (sweep, "lstm", h) and (sweep, "gru", h, s) in found
        )
        lstm = np.stack([found[(sweep, "lstm", h, s)] for s in seeds])
        gru = np.stack([found[(sweep, "gru", h, s)] for s in seeds])
        pooled_l.append(lstm)
        pooled_g.append(gru)
        per, inter = paired_diff(lstm, gru, masks, rng)
        by_size[str(h)] = {"buckets": per, "interaction": inter, "seeds": seeds}
    per, inter = paired_diff(np.concatenate(pooled_l), np.concatenate(pooled_g), masks, rng)
    return {
        "unit": "tokens" if task == "sentiment" else "seconds",
        "edges": list(edges),
        "buckets": labels,
        "n": [int(m.sum()) for m in masks],
        "by_size": by_size,
        "pooled": {"buckets": per, "interaction": inter},
        "records": records,
    }


def plot(task: str, result: dict[str, Any], path: Path) -> None:
    """Left: accuracy per bucket of the served packages (or the sweep's mean); right: GRU − LSTM with 95 % CI."""
    plt = pyplot()
    labels = result["buckets"]
    x = np.arange(len(labels))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    served = any(r["source"] == "served package" for r in result["records"])
    for cell, colour in (("lstm", "tab:blue"), ("gru", "tab:orange")):
        rs = [r for r in result["records"] if r["cell"] == cell and (r["source"] == "served package" or not served)]
        acc = [float(np.mean([r["accuracy"] for r in rs if r["bucket"] == b])) for b in labels]
        left.plot(x, acc, "o-", color=colour, label=f"{cell.upper()} ({'served package' if served else 'sweep mean'})")
    left.set_xticks(x, [f"{b}\n(n={n})" for b, n in zip(labels, result["n"], strict=True)], fontsize=8)
    left.set_ylabel("test accuracy")
    left.legend()
    left.grid(alpha=0.3)
    series = {
        **{f"hidden {h}": v["buckets"] for h, v in result["by_size"].items()},
        "pooled": result["pooled"]["buckets"],
    }
    width = 0.8 / len(series)
    for i, (name, cis) in enumerate(series.items()):
        d = np.array([c["diff"] for c in cis])
        err = np.array([[c["diff"] - c["lo"] for c in cis], [c["hi"] - c["diff"] for c in cis]])
        right.errorbar(x + (i - len(series) / 2 + 0.5) * width, d, yerr=err, fmt="o", capsize=2, label=name)
    right.axhline(0, color="k", lw=0.8)
    right.set_xticks(x, labels, fontsize=8)
    right.set_ylabel("GRU − LSTM accuracy (95% CI)")
    right.legend(fontsize=7)
    right.grid(alpha=0.3)
    fig.suptitle(f"{task}: accuracy by input length")
    save(fig, path)


def _ci(c: dict[str, float]) -> str:
    return f"{c['diff']:+.4f} [{c['lo']:+.4f}, {c['hi']:+.4f}]"


def render(section: dict[str, Any]) -> list[str]:
    """Per task: GRU − LSTM per bucket (each size, pooled) and the interaction, with 95 % intervals."""
    lines = [
        "## Accuracy by sequence length",
        "",
        f"Generated by `{section['command']}` from the size sweep's models (every hidden size × seed) and "
        "the served packages: GRU − LSTM test accuracy per length bucket with a 95% paired bootstrap "
        "interval over examples and seeds; 'short − long' is (GRU − LSTM)[shortest] − (GRU − LSTM)[longest], "
        "positive when the GRU is relatively better on short inputs, as claimed. Per-model × bucket "
        "accuracies: `sweeps.length.records`.",
        "",
    ]
    for task, res in section["tasks"].items():
        head = " | ".join(f"{b} (n={n})" for b, n in zip(res["buckets"], res["n"], strict=True))
        lines += [
            f"**{task}** — [{section['figures'][task]}]({section['figures'][task]})",
            "",
            f"| hidden | {head} | short − long |",
            "|---" * (len(res["buckets"]) + 2) + "|",
        ]
        rows = {**{h: v for h, v in res["by_size"].items()}, "pooled": res["pooled"]}
        for name, v in rows.items():
            lines.append(f"| {name} | " + " | ".join(_ci(c) for c in v["buckets"]) + f" | {_ci(v['interaction'])} |")
        lines.append("")
    return lines


def claim_rows(section: dict[str, Any]) -> list[dict[str, str]]:
    """One row: the pooled interaction per task, judged by its 95 % interval."""
    measured, verdicts = [], []
    for task, res in section["tasks"].items():
        c = res["pooled"]["interaction"]
        measured.append(f"{task}: short − long {_ci(c)}")
        verdicts.append("holds" if c["lo"] > 0 else "reversed" if c["hi"] < 0 else "unresolved")
    if all(v == "holds" for v in verdicts):
        verdict = "holds (GRU relatively better on short inputs, 95% CI excludes 0)"
    elif "reversed" in verdicts:
        verdict = "does not hold (reversed somewhere, 95% CI excludes 0)"
    else:
        verdict = "not resolved (95% CI includes 0)"
    return [
        {
            "claim": "GRU for short sequences, LSTM for long ones",
            "claimed": "GRU better on short inputs, LSTM on long",
            "measured": "; ".join(measured) + " (pooled over sizes and seeds; look-back: see the look-back sweep)",
            "verdict": verdict,
        }
    ]


def run(
    models_dir: Path, runs: Path = RUNS, quick: bool = False, data: dict[str, Path] | None = None
) -> dict[str, Any]:
    """Analyse every task the size sweep cached under ``runs``; figures and ``sweeps.length``.

    ``quick`` changes nothing here: the work is as small as the size sweep it reads.
    """
    data = data or {}
    runs = runs / SUBDIR
    tasks = [t for t in TASKS if (runs / t / "points").is_dir()]
    results = {}
    for task in tasks:
        loaded = load_task(task, data.get(task))
        lens = lengths(task, loaded, data.get(task, FSDD_DIR))
        results[task] = analyse(task, loaded, lens, runs, models_dir)
        plot(task, results[task], models_dir / FIGURES / f"length_{task}.png")
    section = {
        "command": "python -m export.sweep_length",
        "tasks": {t: {k: v for k, v in r.items() if k != "records"} for t, r in results.items()},
        "records": [rec for r in results.values() for rec in r["records"]],
        "figures": {t: f"{FIGURES}/length_{t}.png" for t in tasks},
    }
    return save_section(models_dir, "length", section)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m export.sweep_length", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("models"))
    p.add_argument("--runs", type=Path, default=RUNS, help="runs folder of the size sweep's cache (default .runs)")
    a = p.parse_args(argv)
    res = run(a.out, a.runs)
    for row in claim_rows(res["sweeps"]["length"]):
        print(f"{row['claim']}: {row['verdict']}\n  {row['measured']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
