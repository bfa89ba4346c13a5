"""Raw multivariate history ↔ z-scored model tensors for the forecast models.

Statistics are fitted on the training split only and travel in ``model.json``; training and
serving both scale through these functions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from service.package import ForecastPreprocessing
from service.preprocess.errors import PreprocessError


def fit_stats(train: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-column mean and std of the training rows ``(N, V)``."""
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std[std == 0] = 1.0
    return mean.astype(float).tolist(), std.astype(float).tolist()


def normalize(rows: np.ndarray, cfg: ForecastPreprocessing) -> np.ndarray:
    """``(..., V)`` raw values → z-scores, float32."""
    return ((rows - np.asarray(cfg.mean)) / np.asarray(cfg.std)).astype(np.float32)


def denormalize_target(z: np.ndarray, cfg: ForecastPreprocessing) -> np.ndarray:
    """Z-scored target values → target units (e.g. °C)."""
    col = cfg.variables.index(cfg.target)
    return (z * cfg.std[col] + cfg.mean[col]).astype(np.float32)


def check_history(history: Sequence, cfg: ForecastPreprocessing, field: str = "history") -> np.ndarray:
    """Validate one look-back window and return it as ``(lookback, V)`` float32 raw values.

    A model over one variable also accepts a flat list; a multivariate one needs rows of
    ``len(cfg.variables)`` values in the order of ``cfg.variables``.
    """
    n_vars = len(cfg.variables)
    try:
        arr = np.asarray(history, dtype=np.float64)
    except (TypeError, ValueError):
        raise PreprocessError(
            field, f"history must be a list of {cfg.lookback} rows of {n_vars} numbers"
        ) from None
    if arr.ndim == 1 and n_vars == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != n_vars:
        shape = "x".join(map(str, arr.shape))
        raise PreprocessError(
            field,
            f"history must be rows of {n_vars} values ({', '.join(cfg.variables)}); got shape {shape}",
        )
    if arr.shape[0] != cfg.lookback:
        raise PreprocessError(field, f"history must have exactly {cfg.lookback} rows (the look-back window); got {arr.shape[0]}")
    if not np.all(np.isfinite(arr)):
        raise PreprocessError(field, "history values must be finite numbers (no NaN or Inf)")
    return arr.astype(np.float32)
