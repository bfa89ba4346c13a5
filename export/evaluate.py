"""Score a model PACKAGE with onnxruntime on any data in the task's format — no torch needed.

It reads ``model.onnx`` + ``model.json`` + assets exactly as the service does and preprocesses with
the package's own configuration, so the number it prints is the number of what is served.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from export.data import SENTIMENT_DIR, describe, encode_texts, keyword_folder, read_ett_csv, windows
from export.metrics import task_metrics
from export.sst import SPLIT_SEED, held_out_sentences, read_sentences
from service.package import (
    MODEL_FILE,
    ForecastPreprocessing,
    KeywordsPreprocessing,
    ModelPackage,
    SentimentPreprocessing,
    read_package,
)
from service.preprocess.series import normalize
from service.preprocess.text import Vocabulary
from service.runtime.sessions import SessionConfig, open_session
from service.tasks import TASKS


def open_package(folder: Path, threads: int = 1) -> tuple[ort.InferenceSession, ModelPackage]:
    """An ORT session on the package's model (sha256 checked) and its metadata."""
    package = read_package(Path(folder))
    return open_session(Path(folder) / MODEL_FILE, SessionConfig(intra_op_threads=threads)), package


def run_outputs(session: ort.InferenceSession, task: str, xs: Any, batch_size: int = 256) -> np.ndarray:
    """Outputs for every input, in order; sentiment batches group similar lengths (less padding)."""
    order = np.argsort([len(x) for x in xs], kind="stable") if task == "sentiment" else np.arange(len(xs))
    outs = []
    for i in range(0, len(xs), batch_size):
        idx = order[i : i + batch_size]
        part = [xs[j] for j in idx] if isinstance(xs, list) else xs[idx]
        outs.append(session.run(None, TASKS[task].feeds(part))[0])
    result = np.empty((len(xs), outs[0].shape[1]), dtype=np.float32)
    result[order] = np.concatenate(outs)
    return result


#: what ``evaluate`` scores a sentiment package on when no ``--data`` is given
HELD_OUT_TEST = f"held-out test sentences of {describe(SENTIMENT_DIR)}/sst2_sentences (split seed {SPLIT_SEED})"


def load_eval_data(
    folder: Path, package: ModelPackage, data: Path | None, rows: slice | None = None
) -> tuple[Any, np.ndarray]:
    """Read ``data`` and preprocess it with the package config.

    ``data``: sentiment — a GLUE tsv or ``<label> <sentence>`` file, or a folder of them (``None``:
    the held-out test sentences, never trained on in any form); keywords — an FSDD folder;
    forecast — an ETT csv. ``rows`` restricts an ETT csv to a row range first (e.g. the test
    months); look-back windows are taken inside that range.
    """
    pre = package.preprocessing
    if isinstance(pre, SentimentPreprocessing):
        texts, labels = read_sentences(data) if data is not None else held_out_sentences(SENTIMENT_DIR)[2]
        vocab = Vocabulary.load(Path(folder) / pre.vocab_file)
        return encode_texts(texts, vocab, pre.max_tokens), labels
    if data is None:
        raise ValueError(f"{package.task}: --data is required")
    if isinstance(pre, KeywordsPreprocessing):
        return keyword_folder(data, pre)
    assert isinstance(pre, ForecastPreprocessing)
    table = read_ett_csv(data)
    if rows is not None:
        table = table[rows]
    return windows(normalize(table, pre), pre.lookback, pre.horizon, pre.variables.index(pre.target))


def target_std(package: ModelPackage) -> float:
    """The forecast target's training standard deviation (metrics in °C); 1.0 for the other tasks."""
    pre = package.preprocessing
    return pre.std[pre.variables.index(pre.target)] if isinstance(pre, ForecastPreprocessing) else 1.0


def evaluate_package(folder: Path, data: Path | None, rows: slice | None = None, threads: int = 1) -> dict[str, Any]:
    """Metrics of the package on ``data`` plus ``n_examples`` (one JSON-able dict)."""
    session, package = open_package(folder, threads)
    xs, ys = load_eval_data(folder, package, Path(data) if data is not None else None, rows)
    outputs = run_outputs(session, package.task, xs)
    metrics = task_metrics(package.task, outputs, ys, target_std(package))
    source = str(data) if data is not None else HELD_OUT_TEST
    return {"model": package.name, "data": source, **metrics, "n_examples": len(ys)}
