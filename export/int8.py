"""One int8 package from one fp32 LSTM package, scored and held to a declared contract.

Why a module of its own: the package (``model.json`` ``precision``/``quantization``) and its
contract are what the service and the tests rely on; :mod:`export.quantize` is the experiment
around it (variants, GRU probe, latency, the ``sweeps.int8`` section).

The held-out inputs are the ones ``rnn-serve evaluate`` scores the fp32 package on (sentiment: the
held-out test sentences; keywords: FSDD takes 5–9; forecast: the ETTh1 test months with their
look-back), encoded with the package's own preprocessing as :func:`load_eval_data` does, and both
packages run in evaluate's batching (:func:`run_outputs`), so the two metrics compare like for like.
"""

from __future__ import annotations

import math
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from export.data import (
    ETT_BORDERS,
    ETTH1_CSV,
    FSDD_DIR,
    KEYWORD_TEST_TAKES,
    SENTIMENT_DIR,
    describe,
    encode_texts,
    list_fsdd,
)
from export.evaluate import HELD_OUT_TEST, load_eval_data, run_outputs, target_std
from export.metrics import SELECT_BY, task_metrics
from export.sst import held_out_sentences
from export.verify import REFERENCE_FILE
from service.package import (
    MODEL_FILE,
    ModelPackage,
    Quantization,
    ReferenceSpec,
    SentimentPreprocessing,
    read_package,
    write_package,
)
from service.preprocess.text import Vocabulary
from service.runtime.sessions import SessionConfig, open_session
from service.tasks import TASKS

INTEGER_RNN_OP = "DynamicQuantizeLSTM"
SPREAD_ROWS = 64  # rows run alone vs inside their evaluation batch
TOLERANCE_MARGIN = 2.0  # declared tolerance = this × the worst measured diff, rounded up
AGREEMENT_MARGIN = 0.01  # declared least label agreement = measured − this


class NoIntegerKernel(RuntimeError):
    """``quantize_dynamic`` left the recurrent op fp32: such an "int8" package would not be one."""


@dataclass
class HeldOut:
    """The inputs ``rnn-serve evaluate`` scores a package on, and where they came from."""

    xs: Any
    ys: np.ndarray
    data: str


def held_out(folder: Path, package: ModelPackage, data: Path | None = None) -> HeldOut:
    """Read the task's held-out test inputs with the package's preprocessing.

    ``data`` is the task's data as :func:`export.data.task_paths` lays it out (sentiment: the root
    holding ``sst2_sentences``; keywords: the FSDD recordings; forecast: the ETT csv); default
    ``../shared/data``, where this is exactly what ``rnn-serve evaluate`` scores by default.
    """
    pre = package.preprocessing
    if isinstance(pre, SentimentPreprocessing):
        texts, ys = held_out_sentences(data or SENTIMENT_DIR)[2]
        xs = encode_texts(texts, Vocabulary.load(folder / pre.vocab_file), pre.max_tokens)
        where = HELD_OUT_TEST if data is None else f"held-out test sentences of {describe(data)}/sst2_sentences"
        return HeldOut(xs, ys, where)
    if package.task == "keywords":
        source = data or FSDD_DIR
        with tempfile.TemporaryDirectory() as tmp:  # evaluate takes a folder: link the test takes into one
            for path, _, _, take in list_fsdd(source):
                if take in KEYWORD_TEST_TAKES:
                    (Path(tmp) / path.name).symlink_to(path.resolve())
            xs, ys = load_eval_data(folder, package, Path(tmp))
        return HeldOut(xs, ys, f"{describe(source)} takes {KEYWORD_TEST_TAKES.start}–{KEYWORD_TEST_TAKES.stop - 1}")
    lookback = package.preprocessing.lookback  # type: ignore[union-attr]
    rows = slice(ETT_BORDERS["test"][0] - lookback, ETT_BORDERS["test"][1])
    xs, ys = load_eval_data(folder, package, data or ETTH1_CSV, rows)
    return HeldOut(xs, ys, f"{describe(data or ETTH1_CSV)} rows {rows.start}:{rows.stop}")


def quantize(src: Path, dst: Path, per_channel: bool) -> Counter[str]:
    """Dynamically quantize ``src`` (weights QInt8) into ``dst``; the op types of the result."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(src, dst, weight_type=QuantType.QInt8, per_channel=per_channel)
    return Counter(n.op_type for n in onnx.load(str(dst)).graph.node)


def agreement(task: str, a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """Share of identical argmax labels (None for forecast) and max / mean |a − b|."""
    diff = np.abs(a.astype(np.float64) - b)
    same = None if task == "forecast" else float(np.mean(a.argmax(1) == b.argmax(1)))
    return {"label_agreement": same, "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean())}


def batch_spread(session: ort.InferenceSession, task: str, xs: Any, n: int = SPREAD_ROWS) -> float:
    """Max |row alone − same row inside its evaluation batch| over the first ``n`` rows."""
    batched = run_outputs(session, task, xs)[:n]
    alone = np.concatenate([session.run(None, TASKS[task].feeds(xs[i : i + 1]))[0] for i in range(min(n, len(xs)))])
    return float(np.max(np.abs(batched - alone)))


def _round_up(x: float) -> float:
    """``x`` rounded up to one significant digit (0.0123 → 0.02)."""
    if x <= 0:
        return 1e-6
    step = 10.0 ** math.floor(math.log10(x))
    return float(f"{math.ceil(round(x / step, 9)) * step:.1g}")


def declared_contract(agreed: dict[str, Any], spread: float, reference_diff: float) -> tuple[float, float | None]:
    """The tolerance and least label agreement the package declares, with margin over what was measured."""
    tolerance = _round_up(TOLERANCE_MARGIN * max(agreed["max_abs_diff"], spread, reference_diff))
    same = agreed["label_agreement"]
    return tolerance, None if same is None else math.floor((same - AGREEMENT_MARGIN) * 1000) / 1000


def _reference_diff(session: ort.InferenceSession, fp32_dir: Path, source: ModelPackage) -> tuple[float, int]:
    """Max |int8 − PyTorch| on the fp32 package's ``reference.npz`` (one batch, as V2 sends it) and
    its row count; ``(0.0, 0)`` for a package without one."""
    if source.reference is None:
        return 0.0, 0
    with np.load(fp32_dir / source.reference.file) as ref:
        feeds = {k: ref[k] for k in ref.files if k != "expected"}
        expected = ref["expected"]
    return float(np.max(np.abs(session.run(None, feeds)[0] - expected))), len(expected)


def build_int8(fp32_dir: Path, out_dir: Path, inputs: HeldOut, per_channel: bool) -> dict[str, Any]:
    """Quantize the fp32 LSTM package ``fp32_dir`` into the package ``out_dir``; its record.

    Raises :class:`NoIntegerKernel` when the recurrent op did not become integer (a GRU).
    """
    source = read_package(fp32_dir)
    task, (metric, _) = source.task, SELECT_BY[source.task]
    fp32_out = run_outputs(open_session(fp32_dir / MODEL_FILE), task, inputs.xs)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / MODEL_FILE
        ops = quantize(fp32_dir / MODEL_FILE, path, per_channel)
        if ops[INTEGER_RNN_OP] != 1:
            raise NoIntegerKernel(f"{fp32_dir}: no {INTEGER_RNN_OP} after quantize_dynamic (ops: {dict(ops)})")
        session = open_session(path)
        out = run_outputs(session, task, inputs.xs)
        reference_diff, n_reference = _reference_diff(session, fp32_dir, source)
        agreed, spread = agreement(task, fp32_out, out), batch_spread(session, task, inputs.xs)
        two_threads = run_outputs(open_session(path, SessionConfig(intra_op_threads=2)), task, inputs.xs)
        threads = float(np.max(np.abs(two_threads - out)))
        tolerance, least = declared_contract(agreed, max(spread, threads), reference_diff)
        quant = Quantization(
            per_channel=per_channel,
            source=source.name,
            source_onnx_sha256=source.onnx_sha256,
            data=inputs.data,
            n_inputs=len(inputs.ys),
            **agreed,
            batch_max_abs_diff=spread,
            threads_max_abs_diff=threads,
            tolerance=tolerance,
            min_label_agreement=least,
        )
        std = target_std(source)
        package = ModelPackage.model_validate(
            {
                **source.model_dump(),
                "name": out_dir.name,
                "description": f"{source.description} (int8: dynamic quantization of {source.name})",
                "metrics": task_metrics(task, out, inputs.ys, std),
                "precision": "int8",
                "quantization": quant.model_dump(),
                "parity": None,
                "streaming": None,
                "reference": (
                    ReferenceSpec(file=REFERENCE_FILE, n_inputs=n_reference, tolerance=tolerance)
                    if n_reference
                    else None
                ),
            }
        )
        assets = {REFERENCE_FILE: fp32_dir / REFERENCE_FILE} if n_reference else {}
        if isinstance(source.preprocessing, SentimentPreprocessing):
            assets[source.preprocessing.vocab_file] = fp32_dir / source.preprocessing.vocab_file
        written = write_package(out_dir, package, path, assets)
    return {
        "task": task,
        "metric": metric,
        "fp32": task_metrics(task, fp32_out, inputs.ys, std)[metric],
        "int8": written.metrics[metric],
        "fp32_bytes": source.onnx_bytes,
        "int8_bytes": written.onnx_bytes,
        "int8_ops": sorted(ops),
        "reference_max_abs_diff": reference_diff,
        "fp32_batch_max_abs_diff": batch_spread(open_session(fp32_dir / MODEL_FILE), task, inputs.xs),
        **quant.model_dump(exclude={"method", "weight_type", "source_onnx_sha256", "data"}),
    }
