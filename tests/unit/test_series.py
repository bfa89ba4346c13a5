"""service/preprocess/series.py: z-scores and °C computed by hand, and every validation rule with the
message a client sees."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
import pytest

from service.package import ForecastPreprocessing
from service.preprocess.errors import PreprocessError
from service.preprocess.series import check_history, check_rows, denormalize_target, fit_stats, normalize

CFG = ForecastPreprocessing(
    variables=["HUFL", "OT", "LULL"],
    target="OT",
    lookback=3,
    horizon=1,
    mean=[10.0, 20.0, -1.0],
    std=[2.0, 4.0, 0.5],
    max_chunk_rows=4,
)
ONE = ForecastPreprocessing(variables=["OT"], target="OT", lookback=2, horizon=1, mean=[5.0], std=[2.0])


@pytest.fixture(autouse=True)
def _warnings_are_errors() -> Iterator[None]:
    """Overflow must be handled, never reported as a numpy RuntimeWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _rule(exc: pytest.ExceptionInfo[PreprocessError]) -> tuple[str, str]:
    return exc.value.field, exc.value.rule


def test_fit_stats_per_column_population_std_and_constant_columns() -> None:
    train = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    mean, std = fit_stats(train)
    # column 0: mean 3, population variance (4 + 0 + 4) / 3; column 1 is constant: std 1, not 0
    assert mean == [3.0, 5.0]
    assert std == pytest.approx([(8 / 3) ** 0.5, 1.0])
    assert all(type(v) is float for v in mean + std)


def test_normalize_by_hand() -> None:
    rows = np.array([[12.0, 16.0, 0.0], [10.0, 20.0, -2.0]])
    z = normalize(rows, CFG)
    assert z.dtype == np.float32
    assert z.tolist() == [[1.0, -1.0, 2.0], [0.0, 0.0, -2.0]]


def test_normalize_overflow_is_refused_only_for_a_request_field() -> None:
    rows = np.array([[1e38, 24.0, -1.0]])  # (1e38 - 10) / 0.01 fits float64 but not float32
    cfg = CFG.model_copy(update={"std": [0.01, 4.0, 0.5]})
    z = normalize(rows, cfg)
    assert np.isinf(z[0, 0]) and z[0, 1:].tolist() == [1.0, 0.0]
    with pytest.raises(PreprocessError) as info:
        normalize(rows, cfg, field="history")
    assert _rule(info) == (
        "history",
        "values too far from the training range: their z-scores overflow float32",
    )
    assert np.isfinite(normalize(np.array([[10.0, 20.0, -1.0]]), cfg, field="history")).all()


def test_denormalize_uses_the_target_column() -> None:
    got = denormalize_target(np.array([[0.0, 1.0, -2.5]]), CFG)  # OT: mean 20, std 4
    assert got.dtype == np.float32 and got.tolist() == [[20.0, 24.0, 10.0]]
    assert denormalize_target(np.array([1.5]), ONE).tolist() == [8.0]


def test_denormalize_overflow_is_refused_only_for_a_request_field() -> None:
    z = np.array([1e38])
    assert np.isinf(denormalize_target(z, CFG)[0])
    with pytest.raises(PreprocessError) as info:
        denormalize_target(z, CFG, field="forecast")
    assert _rule(info) == ("forecast", "values too far from the training range: the forecast overflows float32")
    assert denormalize_target(np.array([2.0]), CFG, field="forecast").tolist() == [28.0]


def test_check_history_accepts_rows_and_a_flat_list_for_one_variable() -> None:
    got = check_history([[1, 2, 3], [4, 5, 6], [7, 8, 9.5]], CFG)
    assert got.dtype == np.float32 and got.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9.5]]
    flat = check_history([1.5, 2.5], ONE)
    assert flat.shape == (2, 1) and flat.tolist() == [[1.5], [2.5]]
    assert check_history([[1.5], [2.5]], ONE).tolist() == [[1.5], [2.5]]


def test_check_history_rules_and_messages() -> None:
    with pytest.raises(PreprocessError) as info:
        check_history([[1, "x", 3]] * 3, CFG)
    assert _rule(info) == ("history", "history must be a list of 3 rows of 3 numbers")
    with pytest.raises(PreprocessError) as info:
        check_history([[1, 2], [3]], ONE, field="inputs[0]")
    assert _rule(info) == ("inputs[0]", "history must be a list of 2 rows of 1 numbers")
    with pytest.raises(PreprocessError) as info:
        check_history([1.0, 2.0, 3.0], CFG)  # flat, but three variables
    assert _rule(info) == ("history", "history must be rows of 3 values (HUFL, OT, LULL); got shape 3")
    with pytest.raises(PreprocessError) as info:
        check_history([[1, 2]] * 3, CFG)
    assert _rule(info) == ("history", "history must be rows of 3 values (HUFL, OT, LULL); got shape 3x2")
    with pytest.raises(PreprocessError) as info:
        check_history([[[1]]], ONE)
    assert _rule(info) == ("history", "history must be rows of 1 values (OT); got shape 1x1x1")
    with pytest.raises(PreprocessError) as info:
        check_history([[1, 2, 3]] * 2, CFG)
    assert _rule(info) == ("history", "history must have exactly 3 rows (the look-back window); got 2")
    with pytest.raises(PreprocessError) as info:
        check_history([1.0], ONE)
    assert _rule(info) == ("history", "history must have exactly 2 rows (the look-back window); got 1")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 1e39])
def test_check_history_refuses_what_is_not_a_finite_float32(bad: float) -> None:
    with pytest.raises(PreprocessError) as info:
        check_history([1.0, bad], ONE)
    assert _rule(info) == ("history", "history values must be finite float32 numbers (|x| ≤ 3.4e38; no NaN or Inf)")


def test_check_rows_accepts_one_to_max_chunk_rows() -> None:
    assert check_rows([[1, 2, 3]], CFG).tolist() == [[1, 2, 3]]
    four = check_rows([[1, 2, 3]] * 4, CFG)
    assert four.shape == (4, 3) and four.dtype == np.float32


@pytest.mark.parametrize(
    ("rows", "shape"), [([], "0"), ([[1, 2, 3]] * 5, "5x3"), ([[1, 2]], "1x2"), ([1, 2, 3], "3"), ([[]], "1x0")]
)
def test_check_rows_shape_rules(rows: list[object], shape: str) -> None:
    with pytest.raises(PreprocessError) as info:
        check_rows(rows, CFG)
    assert _rule(info) == ("rows", f"rows must be 1–4 rows of 3 values (HUFL, OT, LULL); got shape {shape}")


def test_check_rows_refuses_non_numbers_and_non_finite_values() -> None:
    with pytest.raises(PreprocessError) as info:
        check_rows([[1, "two", 3]], CFG, field="chunk")
    assert _rule(info) == ("chunk", "rows must be a list of rows of 3 numbers")
    with pytest.raises(PreprocessError) as info:
        check_rows([[1, 2, float("nan")]], CFG)
    assert _rule(info) == ("rows", "values must be finite float32 numbers (|x| ≤ 3.4e38; no NaN or Inf)")
