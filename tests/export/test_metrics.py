"""The evaluation metrics against cases computed by hand (not by another implementation)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from export.metrics import accuracy, bootstrap_ci, classification, f1_binary, macro_f1, regression, task_metrics


def test_accuracy() -> None:
    assert accuracy(np.array([1, 0, 1, 1]), np.array([1, 0, 0, 1])) == 0.75
    assert math.isnan(accuracy(np.array([]), np.array([])))


def test_f1_of_the_positive_class() -> None:
    # tp = 2 (0, 4), fp = 1 (1), fn = 1 (3): F1 = 2·2 / (2·2 + 1 + 1)
    assert f1_binary(np.array([1, 1, 0, 0, 1]), np.array([1, 0, 0, 1, 1])) == pytest.approx(4 / 6)
    assert f1_binary(np.array([0, 0]), np.array([0, 0])) == 0.0  # no positives anywhere
    assert f1_binary(np.array([1, 0]), np.array([0, 1])) == 0.0


def test_macro_f1_averages_the_classes_present() -> None:
    # class 0: perfect (1.0); class 1: tp 0 (0.0); class 2: tp 1, fp 1, fn 1 (0.5); class 3 absent
    assert macro_f1(np.array([0, 1, 2, 2]), np.array([0, 2, 2, 1]), n_classes=4) == pytest.approx(0.5)


def test_classification_picks_the_argmax_and_the_task_metric() -> None:
    logits = np.array([[0.1, 2.0], [3.0, -1.0], [0.0, 0.5]])
    assert classification("sentiment", logits, np.array([1, 0, 0])) == pytest.approx(
        {"accuracy": 2 / 3, "f1": 2 / 3}
    )  # tp 1, fp 1, fn 0
    keywords = classification("keywords", logits, np.array([1, 0, 1]))
    assert keywords == pytest.approx({"accuracy": 1.0, "macro_f1": 1.0})


def test_regression_on_z_scores_and_in_target_units() -> None:
    # errors 1 and −2: MSE 2.5, MAE 1.5; with a target std of 2 °C: 10 °C² and 3 °C
    got = regression(np.array([1.0, 2.0]), np.array([0.0, 4.0]), target_std=2.0)
    assert got == pytest.approx({"mse": 2.5, "mae": 1.5, "mse_celsius": 10.0, "mae_celsius": 3.0})
    assert task_metrics("forecast", np.array([1.0, 2.0]), np.array([0.0, 4.0]), 2.0) == got


def test_bootstrap_interval_of_a_known_accuracy_has_the_binomial_width() -> None:
    true = np.array([0, 1] * 500)
    pred = true.copy()
    pred[:200] = 1 - pred[:200]  # 800 of 1,000 right: binomial SE 0.0126, 95 % half-width ≈ 0.025
    logits = np.eye(2, dtype=np.float32)[pred]
    ci = bootstrap_ci(logits, true)
    lo, hi = ci["accuracy"]
    assert lo < 0.8 < hi and 0.04 < hi - lo < 0.06
    f1 = f1_binary(pred, true)
    assert ci["f1"][0] < f1 < ci["f1"][1]
    assert bootstrap_ci(logits, true) == ci  # seeded
