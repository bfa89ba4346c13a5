"""Raw multivariate history ↔ z-scored model tensors for the forecast models.

Statistics are fitted on the training split only and travel in ``model.json``; training and
serving both scale through these functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from service.package import ForecastPreprocessing
from service.preprocess.errors import PreprocessError


def fit_stats(train: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-column mean and std of the training rows ``(N, V)``."""
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std[std == 0] = 1.0
    return mean.astype(float).tolist(), std.astype(float).tolist()


def normalize(rows: np.ndarray, cfg: ForecastPreprocessing, field: str | None = None) -> np.ndarray:
    """``(..., V)`` raw values → z-scores, float32.

    With ``field`` (a request's values), z-scores that overflow float32 are refused: a finite
    raw value far outside the training range can still become ``inf`` once scaled.
    """
    z: np.ndarray = ((rows - np.asarray(cfg.mean)) / np.asarray(cfg.std)).astype(np.float32)
    if field is not None and not np.all(np.isfinite(z)):
        raise PreprocessError(field, "values too far from the training range: their z-scores overflow float32")
    return z


def denormalize_target(z: np.ndarray, cfg: ForecastPreprocessing, field: str | None = None) -> np.ndarray:
    """Z-scored target values → target units (e.g. °C); with ``field``, an overflow is refused."""
    col = cfg.variables.index(cfg.target)
    values = (z * cfg.std[col] + cfg.mean[col]).astype(np.float32)
    if field is not None and not np.all(np.isfinite(values)):
        raise PreprocessError(field, "values too far from the training range: the forecast overflows float32")
    return values


def _as_float32(values: np.ndarray, field: str, what: str) -> np.ndarray:
    """float32 copy of ``values``; refuse any value that is not finite *after* the conversion
    (1e300 is a finite float64 but ``inf`` as float32, the dtype the model runs in)."""
    out = values.astype(np.float32)
    if not np.all(np.isfinite(out)):
        raise PreprocessError(field, f"{what} must be finite float32 numbers (|x| ≤ 3.4e38; no NaN or Inf)")
    return out


def check_history(history: Sequence[Any], cfg: ForecastPreprocessing, field: str = "history") -> np.ndarray:
    """Validate one look-back window and return it as ``(lookback, V)`` float32 raw values.

    A model over one variable also accepts a flat list; a multivariate one needs rows of
    ``len(cfg.variables)`` values in the order of ``cfg.variables``.
    """
    n_vars = len(cfg.variables)
    try:
        arr = np.asarray(history, dtype=np.float64)
    except (TypeError, ValueError):
        raise PreprocessError(field, f"history must be a list of {cfg.lookback} rows of {n_vars} numbers") from None
    if arr.ndim == 1 and n_vars == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != n_vars:
        shape = "x".join(map(str, arr.shape))
        raise PreprocessError(
            field,
            f"history must be rows of {n_vars} values ({', '.join(cfg.variables)}); got shape {shape}",
        )
    if arr.shape[0] != cfg.lookback:
        raise PreprocessError(
            field, f"history must have exactly {cfg.lookback} rows (the look-back window); got {arr.shape[0]}"
        )
    return _as_float32(arr, field, "history values")


def check_rows(rows: Sequence[Any], cfg: ForecastPreprocessing, field: str = "rows") -> np.ndarray:
    """Validate a streaming chunk of hourly rows: ``(1..max_chunk_rows, V)`` finite float32."""
    n_vars = len(cfg.variables)
    try:
        arr = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError):
        raise PreprocessError(field, f"rows must be a list of rows of {n_vars} numbers") from None
    if arr.ndim != 2 or arr.shape[1] != n_vars or not 1 <= arr.shape[0] <= cfg.max_chunk_rows:
        shape = "x".join(map(str, arr.shape))
        raise PreprocessError(
            field,
            f"rows must be 1–{cfg.max_chunk_rows} rows of {n_vars} values "
            f"({', '.join(cfg.variables)}); got shape {shape}",
        )
    return _as_float32(arr, field, "values")
