"""Long seasonal series for the look-back sweep: reading, chronological splits, windows, baselines.

Two real series and one made-up one, all hourly, each with its target as the LAST column (where
:class:`export.nets.ForecastNet` reads the level it forecasts the change from):

* ``etth1``: ETTh1, the 7 variables, target OT (already last), the Informer split (12/4/4 months of 30 days).
* ``beijing``: Beijing PM2.5 + weather 2010–2014, target TEMP, 2010–2012 train, 2013 validation,
  2014 test. TEMP because it is complete, hourly and carries the strongest yearly cycle in the file
  (five repeats), the regime of the "LSTM wins on seasonal series spanning 2+ years" claim, and it
  is a temperature like ETTh1's OT. ``pm2.5`` is neither target nor input: it is NA in 2,067 rows
  and episodic rather than seasonal. The wind direction ``cbwd`` (NE/NW/SE/cv) becomes four one-hot
  columns; the cumulated wind speed ``Iws`` enters as ``log1p`` (raw z-scores reach 10.7, logged
  3.0). ``Is`` and ``Ir`` (cumulated hours of snow and rain) are dropped: they are 0 in 99 % / 96 %
  of hours, so train-fitted z-scores reach 32 / 23 and a few storms would dominate every window's
  input scale. That was decided on the z-scores, not tested for harm.
* ``synthetic``: daily + "yearly" sines with noise, for ``--quick`` and the tests (no shared data).

Windows are named by their ORIGIN, the index of the first forecast row: inputs ``rows[o-L:o]``,
targets ``rows[o:o+H]``. Train origins keep the whole window inside the train rows; validation
and test origins start at their part's first row (the look-back may reach back into the part
before, as in the Informer protocol), at a fixed stride that does not depend on the look-back, so
every look-back and every baseline is scored on the same test targets.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export.data import DATA_ROOT, ETT_BORDERS, ETT_VARIABLES, ETTH1_CSV, TaskData, read_ett_csv
from export.metrics import regression
from service.package import ForecastPreprocessing
from service.preprocess.series import fit_stats, normalize

BEIJING_CSV = DATA_ROOT / "timeseries" / "beijing_pm25" / "pollution.csv"
BEIJING_YEARS = {"train": (2010, 2012), "val": (2013, 2013), "test": (2014, 2014)}
WIND = ("NE", "NW", "SE", "cv")
BEIJING_VARIABLES = ["DEWP", "PRES", "log1p_Iws", *(f"cbwd_{w}" for w in WIND), "TEMP"]
VAL_STRIDE = 29  # validation origins: every 29 h (coprime to 24: every hour of day is scored)
TEST_STRIDE = 11  # test origins: every 11 h (coprime to 24), 260 windows on ETTh1, 795 on Beijing
RIDGE_LAMBDAS = (0.1, 1.0, 10.0, 100.0, 1000.0)


@dataclass(frozen=True)
class Series:
    """One hourly multivariate series, raw values, target last, with its chronological split."""

    name: str
    rows: np.ndarray  # (T, V) float64
    variables: list[str]
    borders: dict[str, tuple[int, int]]  # part → [start, end) row indices
    unit: str = ""

    @property
    def target(self) -> str:
        return self.variables[-1]


def read_beijing(path: Path = BEIJING_CSV) -> tuple[np.ndarray, np.ndarray]:
    """``pollution.csv`` → ``(rows, 9)`` float64 in :data:`BEIJING_VARIABLES` order, and each row's year."""
    with open(path, encoding="utf-8", newline="") as fh:
        records = list(csv.DictReader(fh))
    if not records or not {"year", "DEWP", "TEMP", "PRES", "cbwd", "Iws"} <= set(records[0]):
        raise ValueError(f"{path}: expected the UCI columns year,...,DEWP,TEMP,PRES,cbwd,Iws,...")
    rows = [
        [
            float(r["DEWP"]),
            float(r["PRES"]),
            np.log1p(float(r["Iws"])),
            *(float(r["cbwd"] == w) for w in WIND),
            float(r["TEMP"]),
        ]
        for r in records
    ]
    return np.asarray(rows, dtype=np.float64), np.array([int(r["year"]) for r in records])


def load_series(name: str, path: Path | None = None) -> Series:
    """``etth1``, ``beijing`` (from ``path`` or ``shared/data``) or ``synthetic`` (made up)."""
    if name == "etth1":
        rows = read_ett_csv(path or ETTH1_CSV)
        return Series(name, rows, list(ETT_VARIABLES), dict(ETT_BORDERS), "°C")
    if name == "beijing":
        rows, years = read_beijing(path or BEIJING_CSV)
        borders = {}
        for part, (first, last) in BEIJING_YEARS.items():
            idx = np.flatnonzero((years >= first) & (years <= last))
            borders[part] = (int(idx[0]), int(idx[-1]) + 1)
        return Series(name, rows, list(BEIJING_VARIABLES), borders, "°C")
    if name == "synthetic":
        return synthetic_series()
    raise ValueError(f"unknown series {name!r}; known: etth1, beijing, synthetic")


def synthetic_series(years: int = 5, year_hours: int = 24 * 30, seed: int = 0) -> Series:
    """A made-up target with a daily and a short "yearly" cycle plus one noisy driver; 60/20/20 split."""
    rng = np.random.default_rng(seed)
    t = np.arange(years * year_hours, dtype=np.float64)
    target = np.sin(2 * np.pi * t / 24) + 2 * np.sin(2 * np.pi * t / year_hours) + 0.1 * rng.standard_normal(len(t))
    driver = np.cos(2 * np.pi * t / 24) + 0.3 * rng.standard_normal(len(t))
    a, b = int(0.6 * len(t)), int(0.8 * len(t))
    return Series(
        "synthetic",
        np.stack([driver, target], axis=1),
        ["driver", "y"],
        {"train": (0, a), "val": (a, b), "test": (b, len(t))},
    )


def origins(series: Series, part: str, lookback: int, horizon: int, n_train: int) -> np.ndarray:
    """Forecast origins of one part: train ``n_train`` evenly spaced, val/test at a fixed stride."""
    start, end = series.borders[part]
    if part == "train":
        first, last = start + lookback, end - horizon  # the whole window inside the train rows
        if last < first:
            raise ValueError(f"{series.name}: train part too short for look-back {lookback} + horizon {horizon}")
        return np.unique(np.linspace(first, last, n_train).round().astype(np.int64))
    if start < lookback:
        raise ValueError(f"{series.name}: {part} starts at row {start}, before a full look-back of {lookback}")
    return np.arange(start, end - horizon + 1, VAL_STRIDE if part == "val" else TEST_STRIDE, dtype=np.int64)


def gather(z: np.ndarray, at: np.ndarray, lookback: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows at origins ``at``: inputs ``(n, L, V)`` and the last column's next ``horizon`` values."""
    x = z[at[:, None] - lookback + np.arange(lookback)[None, :]]
    y = z[at[:, None] + np.arange(horizon)[None, :], -1]
    return x.astype(np.float32), y.astype(np.float32)


@dataclass
class Split:
    """A :class:`TaskData` for ``train_run`` plus the z-scored series and origins the baselines use."""

    data: TaskData
    z: np.ndarray
    origins: dict[str, np.ndarray]


def make_split(series: Series, lookback: int, horizon: int, n_train: int) -> Split:
    """Z-score on the train rows only, then cut windows at :func:`origins`."""
    mean, std = fit_stats(series.rows[slice(*series.borders["train"])])
    cfg = ForecastPreprocessing(
        variables=series.variables,
        target=series.target,
        lookback=lookback,
        horizon=horizon,
        mean=mean,
        std=std,
        target_unit=series.unit,
    )
    z = normalize(series.rows, cfg)
    at = {part: origins(series, part, lookback, horizon, n_train) for part in ("train", "val", "test")}
    parts = {part: gather(z, o, lookback, horizon) for part, o in at.items()}
    data = TaskData("forecast", cfg, parts["train"], parts["val"], parts["test"], target_std=std[-1])
    return Split(data, z, at)


def seasonal_naive(target: np.ndarray, at: np.ndarray, horizon: int, period: int) -> np.ndarray:
    """Each forecast row repeats the value ``period`` rows earlier (the last observed cycle, repeated)."""
    return target[at[:, None] - period + (np.arange(horizon) % period)[None, :]]


def ridge_forecast(split: Split, lookback: int, horizon: int) -> np.ndarray:
    """Closed-form ridge on the target's own look-back, level removed; λ chosen on validation.

    Univariate because the all-channel design (L × V features, 13k at 1,440 × 9) is too large for
    the normal equations, and the target's own history carries the seasonal cycles that the claim
    is about. Every train origin (stride 1) is used; inputs and outputs are taken relative to the
    last observed value, as the RNN's output is.
    """
    target = split.z[:, -1].astype(np.float64)
    first, last = split.origins["train"][0], split.origins["train"][-1]

    def design(at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = target[at[:, None] - lookback + np.arange(lookback)[None, :]]
        level = x[:, -1:]
        return np.hstack([x - level, np.ones((len(at), 1))]), level

    a, level = design(np.arange(first, last + 1))
    y = target[np.arange(first, last + 1)[:, None] + np.arange(horizon)[None, :]] - level
    gram, rhs = a.T @ a, a.T @ y
    val_at, test_at = split.origins["val"], split.origins["test"]
    a_val, level_val = design(val_at)
    y_val = target[val_at[:, None] + np.arange(horizon)[None, :]]
    best = min(
        (np.linalg.solve(gram + lam * np.eye(len(gram)), rhs) for lam in RIDGE_LAMBDAS),
        key=lambda w: float(np.mean((a_val @ w + level_val - y_val) ** 2)),
    )
    a_test, level_test = design(test_at)
    pred: np.ndarray = (a_test @ best + level_test).astype(np.float32)
    return pred


def baselines(split: Split, dataset: str, lookback: int, horizon: int) -> list[dict[str, object]]:
    """Seasonal naive (24 h; 168 h once the look-back holds a week) and ridge, on the model's test windows."""
    at, y_test = split.origins["test"], split.data.test[1]
    target = split.z[:, -1]
    preds = {"seasonal_naive_24h": seasonal_naive(target, at, horizon, 24)}
    if lookback >= 168:
        preds["seasonal_naive_168h"] = seasonal_naive(target, at, horizon, 168)
    preds["ridge_target_lookback"] = ridge_forecast(split, lookback, horizon)
    out: list[dict[str, object]] = []
    for name, pred in preds.items():
        m = regression(pred, y_test, split.data.target_std)
        out.append({"dataset": dataset, "lookback": lookback, "name": name, "mse": m["mse"], "mae": m["mae"]})
    return out
