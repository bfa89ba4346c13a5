"""export/metrics.py on cases counted by hand: every count (tp, fp, fn, tn) differs, so a metric that
mixes two of them up gives a different number."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from export.metrics import SELECT_BY, accuracy, classification, f1_binary, macro_f1, regression, task_metrics

# positive class 1: tp = 3 (0, 1, 2), fp = 1 (3), fn = 2 (4, 5), tn = 4 (6..9)
PRED = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
TRUE = np.array([1, 1, 1, 0, 1, 1, 0, 0, 0, 0])


def test_accuracy_counts_matches() -> None:
    assert accuracy(PRED, TRUE) == 0.7  # 3 tp + 4 tn of 10
    assert accuracy(np.array([2, 2]), np.array([2, 2])) == 1.0


def test_accuracy_of_nothing_is_nan_without_a_numpy_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # np.mean([]) would warn "Mean of empty slice"
        assert math.isnan(accuracy(np.array([]), np.array([])))


def test_f1_of_the_positive_class_by_hand() -> None:
    # 2·3 / (2·3 + 1 + 2) = 6 / 9
    assert f1_binary(PRED, TRUE) == pytest.approx(6 / 9)
    # class 0 as positive: tp = 4, fp = 2, fn = 1 → 8 / 11
    assert f1_binary(PRED, TRUE, positive=0) == pytest.approx(8 / 11)


def test_f1_without_any_positive_is_zero() -> None:
    assert f1_binary(np.array([0, 0, 0]), np.array([0, 0, 0])) == 0.0
    assert f1_binary(np.array([0, 0]), np.array([0, 0]), positive=3) == 0.0


def test_macro_f1_averages_every_class_present_in_either_array() -> None:
    pred = np.array([0, 0, 1, 2, 2, 3])
    true = np.array([0, 1, 1, 2, 0, 4])
    # class 0: tp 1, fp 1, fn 1 → 2/4; class 1: tp 1, fp 0, fn 1 → 2/3; class 2: tp 1, fp 1, fn 0 → 2/3;
    # class 3 only predicted: 0; class 4 only true: 0; class 5 absent (not averaged)
    expected = (0.5 + 2 / 3 + 2 / 3 + 0 + 0) / 5
    assert macro_f1(pred, true, n_classes=6) == pytest.approx(expected)
    # classes beyond n_classes are not averaged
    assert macro_f1(pred, true, n_classes=3) == pytest.approx((0.5 + 2 / 3 + 2 / 3) / 3)


def test_macro_f1_with_no_class_present_is_zero_without_a_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert macro_f1(np.array([], dtype=int), np.array([], dtype=int), n_classes=3) == 0.0


def test_classification_uses_the_argmax_of_each_row() -> None:
    logits = np.array([[0.2, 0.9], [0.8, 0.1], [0.3, 0.4], [0.6, 0.5]])  # argmax per row: 1, 0, 1, 0
    got = classification("sentiment", logits, np.array([1, 1, 1, 0]))
    # tp 2, fp 0, fn 1: accuracy 3/4, F1 4/5
    assert got == pytest.approx({"accuracy": 0.75, "f1": 0.8})
    assert set(got) == {"accuracy", "f1"}


def test_classification_of_keywords_is_macro_f1_over_the_logit_columns() -> None:
    logits = np.array([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 5.0], [0.0, 0.0, 5.0]])  # 0, 1, 2, 2
    got = classification("keywords", logits, np.array([0, 1, 2, 1]))
    # class 0: 1; class 1: tp 1, fn 1 → 2/3; class 2: tp 1, fp 1 → 2/3
    assert got == pytest.approx({"accuracy": 0.75, "macro_f1": (1 + 2 / 3 + 2 / 3) / 3})
    assert set(got) == {"accuracy", "macro_f1"}


def test_regression_in_z_units_and_target_units() -> None:
    # errors +1, −2, +3: MSE 14/3, MAE 2; target std 3 °C: MSE × 9, MAE × 3
    pred = np.array([1.0, 0.0, 5.0], dtype=np.float32)
    true = np.array([0.0, 2.0, 2.0], dtype=np.float32)
    got = regression(pred, true, target_std=3.0)
    assert got == pytest.approx({"mse": 14 / 3, "mae": 2.0, "mse_celsius": 42.0, "mae_celsius": 6.0})
    assert all(isinstance(v, float) for v in got.values())


def test_task_metrics_dispatches_by_task() -> None:
    pred, true = np.array([2.0, 4.0]), np.array([1.0, 1.0])  # errors 1, 3: MSE 5, MAE 2
    assert task_metrics("forecast", pred, true) == pytest.approx(
        {"mse": 5.0, "mae": 2.0, "mse_celsius": 5.0, "mae_celsius": 2.0}  # default std 1: same units
    )
    assert task_metrics("forecast", pred, true, 0.5) == pytest.approx(
        {"mse": 5.0, "mae": 2.0, "mse_celsius": 1.25, "mae_celsius": 1.0}
    )
    logits = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert task_metrics("sentiment", logits, np.array([1, 1])) == pytest.approx({"accuracy": 0.5, "f1": 2 / 3})
    assert task_metrics("keywords", logits, np.array([1, 0])) == pytest.approx({"accuracy": 1.0, "macro_f1": 1.0})


def test_selection_metric_per_task() -> None:
    assert SELECT_BY == {"sentiment": ("accuracy", True), "keywords": ("accuracy", True), "forecast": ("mse", False)}
