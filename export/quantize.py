"""int8 LSTM packages served beside the fp32 ones: ``python -m export.quantize``.

Why: dynamic int8 quantization (onnxruntime ``quantize_dynamic``: weights QInt8, activations
quantized per call) makes an LSTM package about 4× smaller and faster on CPU without retraining;
a deployer wants it only if accuracy holds, so every int8 package is scored as ``rnn-serve
evaluate`` scores its fp32 source, on the same held-out inputs (:mod:`export.int8`), and carries
its agreement with that source as the contract its tests check (``model.json`` ``quantization``).

Only LSTMs ship int8. onnxruntime has an integer LSTM kernel (``DynamicQuantizeLSTM``) and no
integer GRU, so quantizing a GRU package leaves its recurrent op fp32 and only the embedding and
head shrink; :func:`gru_probe` re-measures that on every run rather than trusting it. int8
packages ship no step model: an activation's scale comes from the batch at hand, so a chunk's
answer would depend on how the stream was cut, as a row's depends on the rows batched with it
(``batch_max_abs_diff``). Per-tensor and per-channel weight scales are both measured
(``variants``); :data:`PER_CHANNEL` is the one shipped. Latency: raw ``session.run``, batch 1,
one intra-op thread, the fp32/int8 LSTM and GRU sessions of a task alternating in blocks.
Records go to ``models/results.json`` ``sweeps.int8``; ``RESULTS.md`` is re-rendered from it.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from export.benchmarks import BLOCK, ROUNDS, example_of, session_latency
from export.evaluate import run_outputs, target_std
from export.int8 import HeldOut, agreement, build_int8, held_out, quantize
from export.metrics import SELECT_BY, task_metrics
from export.report import pct
from export.sweeps import save_section
from service.package import MODEL_FILE, read_package
from service.runtime.sessions import open_session

TASKS = ("sentiment", "keywords", "forecast")
#: per-tensor weight scales: both are measured every run (``variants``), and per-tensor came out
#: smaller and closer to fp32 on all three tasks
PER_CHANNEL = False
SUFFIX = "-int8"


def _outputs(folder_or_file: Path, task: str, inputs: HeldOut) -> Any:
    """A package's (folder) or a bare graph's (file) outputs on ``inputs`` in evaluate's batching."""
    path = folder_or_file / MODEL_FILE if folder_or_file.is_dir() else folder_or_file
    return run_outputs(open_session(path), task, inputs.xs)


def _scored(task: str, std: float, inputs: HeldOut, fp32_out: Any, path: Path) -> dict[str, Any]:
    """Size, metric and agreement with fp32 of one quantized graph."""
    got = _outputs(path, task, inputs)
    metric = SELECT_BY[task][0]
    return {
        "bytes": path.stat().st_size,
        "value": task_metrics(task, got, inputs.ys, std)[metric],
        **agreement(task, fp32_out, got),
    }


def variants(fp32_dir: Path, inputs: HeldOut, tmp: Path) -> dict[str, dict[str, Any]]:
    """Per-tensor vs per-channel weight scales of one LSTM package, each scored against fp32."""
    package = read_package(fp32_dir)
    fp32_out = _outputs(fp32_dir, package.task, inputs)
    out = {}
    for label, per_channel in (("per_tensor", False), ("per_channel", True)):
        path = tmp / f"{package.name}-{label}.onnx"
        quantize(fp32_dir / MODEL_FILE, path, per_channel)
        out[label] = _scored(package.task, target_std(package), inputs, fp32_out, path)
    return out


def gru_probe(gru_dir: Path, inputs: HeldOut, out: Path) -> dict[str, Any]:
    """Quantize the fp32 GRU package as the LSTM is (into ``out``, never ``models/``): what changed."""
    package = read_package(gru_dir)
    ops = quantize(gru_dir / MODEL_FILE, out, PER_CHANNEL)
    fp32_out = _outputs(gru_dir, package.task, inputs)
    return {
        "int8_ops": sorted(ops),
        "recurrent_op_still_fp32": bool(ops["GRU"]),
        "fp32_bytes": package.onnx_bytes,
        "fp32": task_metrics(package.task, fp32_out, inputs.ys, target_std(package))[SELECT_BY[package.task][0]],
        **_scored(package.task, target_std(package), inputs, fp32_out, out),
    }


def task_record(models_dir: Path, task: str, data: Path | None, quick: bool) -> dict[str, Any]:
    """Build ``<task>-lstm-int8``, probe the GRU, and time all four graphs of the task interleaved."""
    lstm, gru = models_dir / f"{task}-lstm", models_dir / f"{task}-gru"
    inputs = held_out(lstm, read_package(lstm), data)
    record = build_int8(lstm, models_dir / f"{task}-lstm{SUFFIX}", inputs, PER_CHANNEL)
    with tempfile.TemporaryDirectory() as tmp:
        record["variants"] = variants(lstm, inputs, Path(tmp))
        record["gru"] = gru_probe(gru, inputs, Path(tmp) / "gru-int8.onnx")
        sessions = {
            "lstm-fp32": open_session(lstm / MODEL_FILE),
            "lstm-int8": open_session(models_dir / f"{task}-lstm{SUFFIX}" / MODEL_FILE),
            "gru-fp32": open_session(gru / MODEL_FILE),
            "gru-int8": open_session(Path(tmp) / "gru-int8.onnx"),
        }
        rounds, block = (3, 20) if quick else (ROUNDS, BLOCK)
        latency = session_latency(sessions, task, example_of(task, inputs.xs), rounds, block)
    record["raw_p50_ms"] = {name: lat["median_ms"] for name, lat in latency.items()}
    return record


def _value(task: str, x: float) -> str:
    return f"{x:.4f}" if task == "forecast" else pct(x)


def render(section: dict[str, Any]) -> list[str]:
    """The ``RESULTS.md`` section: one row per task, the per-tensor/per-channel choice, the GRU."""
    lines = [
        "## int8 LSTM packages",
        "",
        f"Generated by `{section['command']}`: onnxruntime `quantize_dynamic`, weights QInt8, "
        f"{'per-channel' if section['per_channel'] else 'per-tensor'} scales, served as "
        "`models/<task>-lstm-int8`. Metrics and agreement on the held-out test inputs `rnn-serve evaluate` "
        "scores the fp32 package on; raw `session.run` p50 at batch 1, 1 thread, interleaved blocks.",
        "",
        "| task | metric | fp32 LSTM | int8 LSTM | labels identical | max / mean abs diff | bytes fp32 → int8 "
        "| p50 fp32 / int8 (ms) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task, r in section["tasks"].items():
        same = "—" if r["label_agreement"] is None else pct(r["label_agreement"])
        p50 = r["raw_p50_ms"]
        lines.append(
            f"| {task} | {r['metric']} | {_value(task, r['fp32'])} | {_value(task, r['int8'])} | {same} "
            f"| {r['max_abs_diff']:.3g} / {r['mean_abs_diff']:.3g} | {r['fp32_bytes']:,} → {r['int8_bytes']:,} "
            f"({r['fp32_bytes'] / r['int8_bytes']:.1f}×) | {p50['lstm-fp32']:.3f} / {p50['lstm-int8']:.3f} "
            f"({p50['lstm-fp32'] / p50['lstm-int8']:.2f}×) |"
        )
    choice = "; ".join(
        f"{task}: per-tensor {_value(task, r['variants']['per_tensor']['value'])}, "
        f"per-channel {_value(task, r['variants']['per_channel']['value'])}"
        for task, r in section["tasks"].items()
    )
    grus = "; ".join(
        f"{task}: {r['gru']['fp32_bytes']:,} → {r['gru']['bytes']:,} bytes, p50 "
        f"{r['raw_p50_ms']['gru-fp32']:.3f} → {r['raw_p50_ms']['gru-int8']:.3f} ms"
        for task, r in section["tasks"].items()
    )
    spread = ", ".join(f"{t} {r['batch_max_abs_diff']:.2g}" for t, r in section["tasks"].items())
    fp32_spread = max(r["fp32_batch_max_abs_diff"] for r in section["tasks"].values())
    return [
        *lines,
        "",
        f"Weight scales, held-out metric: {choice}.",
        "",
        f"No GRU int8 package: onnxruntime has an integer LSTM kernel (`DynamicQuantizeLSTM`) but no integer "
        f"GRU, so `quantize_dynamic` leaves the GRU op fp32 and only the embedding / head shrink ({grus}).",
        "",
        "int8 packages ship no step model: dynamic quantization scales activations by the batch at hand, so an "
        f"answer depends on what it is batched with (max |row alone − row in its evaluation batch|: {spread}; "
        f"fp32: {fp32_spread:.2g}) and a stream's on how it is chunked.",
    ]


def claim_rows(section: dict[str, Any]) -> list[dict[str, str]]:
    """int8 loses at most 1 point of accuracy on the classifiers."""
    tasks = {t: r for t, r in section["tasks"].items() if t != "forecast"}
    if not tasks:
        return []
    loss = {t: r["fp32"] - r["int8"] for t, r in tasks.items()}
    return [
        {
            "claim": "int8 LSTM loses ≤ 1 point accuracy",
            "claimed": "≤ 1 point (sentiment, keywords)",
            "measured": "; ".join(f"{t}: {pct(r['fp32'])} → {pct(r['int8'])}" for t, r in tasks.items()),
            "verdict": "holds" if max(loss.values()) <= 0.01 + 1e-12 else "does not hold",
        }
    ]


def run(
    models_dir: Path, runs: Path | None = None, quick: bool = False, data: dict[str, Path] | None = None
) -> dict[str, Any]:
    """Regenerate every ``<task>-lstm-int8`` package whose fp32 pair is present, and ``sweeps.int8``.

    ``quick``: shorter latency blocks (tests); ``data``: each task's data as :func:`task_paths` lays
    it out (default ``../shared/data``); ``runs`` is unused (nothing is trained or cached).
    """
    del runs
    tasks = [t for t in TASKS if (models_dir / f"{t}-lstm").is_dir() and (models_dir / f"{t}-gru").is_dir()]
    records = {t: task_record(models_dir, t, (data or {}).get(t), quick) for t in tasks}
    section = {"command": "python -m export.quantize", "per_channel": PER_CHANNEL, "tasks": records}
    return save_section(models_dir, "int8", section)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m export.quantize", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("models"))
    a = p.parse_args(argv)
    for line in render(run(a.out)["sweeps"]["int8"]):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
