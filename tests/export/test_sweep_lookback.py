"""The look-back sweep on tiny made-up series: leak-free splits, baselines by hand, records, verdicts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from export.seasonal import Series, baselines, make_split, seasonal_naive, synthetic_series
from export.lookback_report import answer, claim_rows, comparisons, render, summary
from export.sweep_lookback import sweep

REQUIRED = {"dataset", "target", "cell", "lookback", "horizon", "seed", "mse", "mae"}


def _ramp(n: int = 600) -> Series:
    """Row i holds i in every column: a window's values name the rows it was cut from."""
    rows = np.repeat(np.arange(n, dtype=np.float64)[:, None], 2, axis=1)
    return Series("ramp", rows, ["x", "y"], {"train": (0, 300), "val": (300, 450), "test": (450, n)})


def _rows_of(split: Any, values: np.ndarray) -> np.ndarray:
    """Undo the z-score of the target column: the row indices the values came from."""
    cfg = split.data.preprocessing
    return np.rint(values * cfg.std[-1] + cfg.mean[-1]).astype(int)


@pytest.mark.parametrize("lookback", [24, 48, 168])
def test_splits_do_not_leak_and_test_windows_do_not_depend_on_lookback(lookback: int) -> None:
    series = _ramp()
    split = make_split(series, lookback, horizon=12, n_train=40)
    (x_tr, y_tr), (_, y_val), (x_te, y_te) = split.data.train, split.data.val, split.data.test
    assert len(x_tr) == 40 and x_tr.shape[1:] == (lookback, 2) and y_tr.shape[1] == 12
    assert _rows_of(split, x_tr[..., -1]).max() < 300 and _rows_of(split, y_tr).max() < 300  # train only
    assert _rows_of(split, y_val).min() >= 300 and _rows_of(split, y_val).max() < 450
    test_rows = _rows_of(split, y_te)
    assert test_rows.min() >= 450 and test_rows.max() < 600  # no test target is a train or val row
    assert np.array_equal(_rows_of(split, x_te[:, -1, -1]) + 1, test_rows[:, 0])  # inputs end right before
    assert split.data.preprocessing.mean[-1] == pytest.approx(149.5)  # z-score fitted on rows 0–299 only
    assert np.array_equal(split.origins["test"], make_split(series, 24, 12, 40).origins["test"])


def test_seasonal_naive_and_ridge_by_hand() -> None:
    target = np.arange(400, dtype=np.float64)
    at = np.array([200, 207])
    assert np.array_equal(seasonal_naive(target, at, 3, 24), [[176, 177, 178], [183, 184, 185]])
    assert np.array_equal(seasonal_naive(target, at, 30, 24)[0, 24:], target[176:182])  # repeats the cycle
    # a pure 24-h cycle: both seasonal naives are exact, ridge (level-removed, λ ≥ 0.1) nearly so
    t = np.arange(24 * 60, dtype=np.float64)
    y = np.sin(2 * np.pi * t / 24) + 0.5 * np.cos(2 * np.pi * t / 12)
    cycle = Series(
        "cycle", np.stack([y, y], axis=1), ["a", "y"], {"train": (0, 960), "val": (960, 1200), "test": (1200, 1440)}
    )
    rows = {b["name"]: b for b in baselines(make_split(cycle, 168, 24, 100), "cycle", 168, 24)}
    assert rows["seasonal_naive_24h"]["mse"] == pytest.approx(0.0, abs=1e-10)
    assert rows["seasonal_naive_168h"]["mse"] == pytest.approx(0.0, abs=1e-10)
    assert rows["ridge_target_lookback"]["mse"] < 1e-3
    assert "seasonal_naive_168h" not in {b["name"] for b in baselines(make_split(cycle, 96, 24, 100), "c", 96, 24)}
    # a 1-h-step ramp (z-step 1/σ): naive 24 h misses by 24 steps everywhere, so its MSE is (24/σ)²
    ramp = _ramp()
    split = make_split(ramp, 48, 6, 40)
    naive = next(b for b in baselines(split, "ramp", 48, 6) if b["name"] == "seasonal_naive_24h")
    assert naive["mse"] == pytest.approx((24 / split.data.preprocessing.std[-1]) ** 2, rel=1e-5)


def test_tiny_sweep_writes_records_with_the_required_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("export.sweep_lookback.load_series", lambda name: synthetic_series(years=3, year_hours=240))
    records, base = sweep(("synthetic",), (24, 48), (0,), hidden=4, train_windows=32, epochs=1)
    assert [(r["lookback"], r["cell"]) for r in records] == [(24, "lstm"), (24, "gru"), (48, "lstm"), (48, "gru")]
    assert all(set(r) >= REQUIRED and r["mse"] > 0 and r["target"] == "y" and r["horizon"] == 24 for r in records)
    assert {(b["lookback"], b["name"]) for b in base} == {
        (24, "seasonal_naive_24h"),
        (24, "ridge_target_lookback"),
        (48, "seasonal_naive_24h"),
        (48, "ridge_target_lookback"),
    }


def _section(lstm: list[float], gru: list[float]) -> dict[str, Any]:
    """Records on both data sets; the Beijing ≥ 720 h MSEs per seed as given, everything else equal."""
    records = []
    for dataset in ("etth1", "beijing"):
        for lookback in (96, 720, 1440):
            for seed in range(3):
                for cell, values in (("lstm", lstm), ("gru", gru)):
                    mse = values[seed] if dataset == "beijing" and lookback >= 720 else 0.1 + 0.01 * seed
                    rec = {"dataset": dataset, "target": "T", "cell": cell, "lookback": lookback, "horizon": 24}
                    records.append({**rec, "seed": seed, "mse": mse, "mae": mse})
    base = [{"dataset": "beijing", "lookback": 720, "name": "seasonal_naive_24h", "mse": 0.2, "mae": 0.3}]
    return {
        "command": "test",
        "lookbacks": [96, 720, 1440],
        "seeds": [0, 1, 2],
        "horizon": 24,
        "budget": {"hidden": 4, "train_windows": 8, "epochs": 1},
        "seconds": {"wall": 60.0, "cpu": 50.0},
        "records": records,
        "baselines": base,
        "summary": summary(records),
        "figures": {"lookback": "figures/lookback.png"},
    }


@pytest.mark.parametrize(
    ("lstm", "gru", "verdict"),
    [
        ([0.90, 0.91, 0.92], [1.00, 1.01, 1.02], "holds (direction, > 2 SE)"),
        ([0.90, 1.00, 1.10], [0.95, 1.05, 1.15], "not resolved (within 2 SE of zero)"),
        ([1.10, 1.11, 1.12], [1.00, 1.01, 1.02], "does not hold (reversed, > 2 SE)"),
    ],
)
def test_claim_row_and_render_give_the_verdict(lstm: list[float], gru: list[float], verdict: str) -> None:
    section = _section(lstm, gru)
    (row,) = claim_rows(section)
    assert row["verdict"] == verdict
    assert row["claim"].startswith("forecast (seasonal, 2+ years): LSTM 8% lower error, in its regime")
    gain = 1 - np.mean(lstm) / np.mean(gru)
    assert f"{100 * abs(gain):.1f}% {'lower' if gain >= 0 else 'higher'}" in row["measured"]
    md = "\n".join(render(section))
    assert "| Beijing (5 y) | 1440 |" in md and "| ETTh1 (2 y) | 96 |" in md
    assert "| 0.2000 | – | – |" in md  # the baseline beside its row, absent ones as dashes
    grows = verdict.startswith("holds") or verdict.startswith("does not")
    assert ("With look-back, yes" in md) == grows  # equal at 96 h, resolved at 1,440 h on Beijing
    assert ("with series length, yes" in md) == grows


def test_no_regime_in_the_run_is_reported_as_not_measured() -> None:
    section = _section([1.0] * 3, [1.0] * 3)
    section["records"] = [r for r in section["records"] if r["dataset"] == "etth1"]
    assert claim_rows(section)[0]["verdict"] == "not measured"
    assert answer(comparisons(section["records"])).startswith(
        "Does either cell's advantage grow with look-back or series length? With look-back, no"
    )
