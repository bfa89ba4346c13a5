"""Metrics in numpy, shared by training (validation), export and ``rnn-serve evaluate``.

One implementation, so the numbers in ``model.json``, ``results.json`` and ``evaluate`` agree.
"""

from __future__ import annotations

import numpy as np


def accuracy(pred: np.ndarray, true: np.ndarray) -> float:
    return float(np.mean(pred == true)) if len(true) else float("nan")


def f1_binary(pred: np.ndarray, true: np.ndarray, positive: int = 1) -> float:
    """F1 of the positive class (SST-2 / GLUE convention)."""
    tp = float(np.sum((pred == positive) & (true == positive)))
    fp = float(np.sum((pred == positive) & (true != positive)))
    fn = float(np.sum((pred != positive) & (true == positive)))
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def macro_f1(pred: np.ndarray, true: np.ndarray, n_classes: int) -> float:
    """Unweighted mean of per-class F1 over the classes present in ``true`` or ``pred``."""
    present = [c for c in range(n_classes) if np.any(true == c) or np.any(pred == c)]
    return float(np.mean([f1_binary(pred, true, c) for c in present])) if present else 0.0


def classification(task: str, logits: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """accuracy + F1 (sentiment: positive-class F1; keywords: macro-F1 over the 10 digits)."""
    pred = np.argmax(logits, axis=1)
    if task == "sentiment":
        return {"accuracy": accuracy(pred, true), "f1": f1_binary(pred, true)}
    return {"accuracy": accuracy(pred, true), "macro_f1": macro_f1(pred, true, logits.shape[1])}


def bootstrap_ci(logits: np.ndarray, true: np.ndarray, n_boot: int = 2000, seed: int = 0) -> dict[str, list[float]]:
    """95 % percentile-bootstrap intervals of binary accuracy and F1 over the examples.

    Why: a test split of ~1,000 sentences leaves accuracy uncertain by about ±2.5 points, more than
    most LSTM-vs-GRU differences, so a served figure is only meaningful with its interval.
    """
    pred = np.argmax(logits, axis=1)
    idx = np.random.default_rng(seed).integers(0, len(true), size=(n_boot, len(true)))
    correct, p, t = (pred == true)[idx], (pred == 1)[idx], (true == 1)[idx]
    tp, fp, fn = (p & t).sum(axis=1), (p & ~t).sum(axis=1), (~p & t).sum(axis=1)
    f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    return {
        name: [float(v) for v in np.percentile(values, [2.5, 97.5])]
        for name, values in (("accuracy", correct.mean(axis=1)), ("f1", f1))
    }


def regression(pred_z: np.ndarray, true_z: np.ndarray, target_std: float) -> dict[str, float]:
    """MSE/MAE on z-scored values (the published ETTh1 convention) and in target units (°C)."""
    err = pred_z.astype(np.float64) - true_z.astype(np.float64)
    mse, mae = float(np.mean(err**2)), float(np.mean(np.abs(err)))
    return {"mse": mse, "mae": mae, "mse_celsius": mse * target_std**2, "mae_celsius": mae * target_std}


def task_metrics(task: str, outputs: np.ndarray, true: np.ndarray, target_std: float = 1.0) -> dict[str, float]:
    if task == "forecast":
        return regression(outputs, true, target_std)
    return classification(task, outputs, true)


#: the metric each task selects epochs and seeds by, and whether higher is better
SELECT_BY: dict[str, tuple[str, bool]] = {
    "sentiment": ("accuracy", True),
    "keywords": ("accuracy", True),
    "forecast": ("mse", False),
}
