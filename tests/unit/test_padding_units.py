"""service/batching/padding.py: the cost model's arithmetic, its fit and clamps, the timing helper,
and merge/split on hand-written arrays."""

from __future__ import annotations

import time

import numpy as np
import pytest

from service.batching.padding import PaddedCost, merge, plan, split, time_median_us


def test_cost_of_a_run_by_hand() -> None:
    cost = PaddedCost(call_us=10.0, step_us=2.0, row_step_us=0.5)
    assert cost.of(4, 3) == 10 + 3 * (2 + 4 * 0.5)  # 22
    assert cost.of(1, 0) == 10.0
    assert cost.as_dict() == {"call_us": 10.0, "step_us": 2.0, "row_step_us": 0.5}


def test_fit_probes_three_shapes_and_rounds_to_ns_and_tenths_of_ns() -> None:
    asked: list[tuple[int, int]] = []

    def median_us(rows: int, steps: int) -> float:
        asked.append((rows, steps))
        return 20.1234 + steps * (0.5004 + rows * 0.01234)  # call, step and row-step, in µs

    fitted = PaddedCost.fit(median_us)
    assert sorted(asked) == [(1, 4), (1, 32), (16, 32)]
    # call and step rounded to 3 decimals, row-step to 4
    assert (fitted.call_us, fitted.step_us, fitted.row_step_us) == (20.123, 0.5, 0.0123)


def test_fit_clamps_flat_timings() -> None:
    # nothing grows with steps or rows: no step cost, the smallest row-step cost, the rest is the call
    fitted = PaddedCost.fit(lambda rows, steps: 50.0)
    assert fitted == PaddedCost(49.996, 0.0, 0.001)


def test_fit_clamps_noise_that_would_give_negative_costs() -> None:
    timings = {(1, 4): 30.0, (1, 32): 20.0, (16, 32): 19.0}  # longer and wider ran faster: noise
    assert PaddedCost.fit(lambda r, s: timings[(r, s)]) == PaddedCost(29.996, 0.0, 0.001)
    # a steep step cost that leaves less than nothing for the call
    timings = {(1, 4): 1.0, (1, 32): 57.0, (16, 32): 57.0 + 0.48}  # 2 µs a step, 0.001 a row-step
    assert PaddedCost.fit(lambda r, s: timings[(r, s)]) == PaddedCost(0.0, 1.999, 0.001)


def test_fit_of_a_row_step_cost_below_one() -> None:
    timings = {(1, 4): 10.0, (1, 32): 10.0 + 28 * 0.3, (16, 32): 10.0 + 28 * 0.3 + 32 * 15 * 0.2}
    # per step and row 0.3, of which 0.2 per row: step 0.1, call 10 − 4·0.3 + ... = 8.8
    assert PaddedCost.fit(lambda r, s: timings[(r, s)]) == PaddedCost(8.8, 0.1, 0.2)


def test_time_median_us_skips_the_first_call_and_takes_the_median(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    durations = iter([99.0] + [0.001 * (i + 1) for i in range(15)])  # first (untimed) call, then 1..15 ms

    def work() -> None:
        clock[0] += next(durations)

    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    assert time_median_us(work) == pytest.approx(8000.0)  # the median of 1..15 ms, in µs
    durations = iter([5.0, 0.002, 0.004, 0.009])
    assert time_median_us(work, repeats=3) == pytest.approx(4000.0)


def test_plan_by_hand() -> None:
    cost = PaddedCost(call_us=10.0, step_us=1.0, row_step_us=1.0)
    # sorted: 1 (len 2), 0 (len 3), 2 (len 30). Joining 0 to [1] costs of(2,3) − of(1,2) = 19 − 14 = 5 ≤ of(1,3) = 16;
    # joining 2 costs of(3,30) − of(2,3) = 130 − 19 = 111 > of(1,30) = 70: a run of its own
    assert plan([3, 2, 30], [1, 1, 1], cost) == [[1, 0], [2]]
    # rows count: two 4-row parts of length 3 and 4 cost less together (of(8,4) = 46) than apart (25 + 30)
    assert plan([4, 3], [4, 4], cost) == [[1, 0]]
    assert plan([], [], cost) == []
    assert plan([7], [2], cost) == [[0]]


def test_merge_of_one_part() -> None:
    part = {"x": np.arange(6).reshape(2, 3)}
    merged, offsets = merge([part], pad_axes=False)
    assert offsets == [0, 2] and merged["x"].tolist() == [[0, 1, 2], [3, 4, 5]]


def test_merge_pads_only_the_tensors_that_differ_and_keeps_their_dtype() -> None:
    a = {"lengths": np.array([2], dtype=np.int64), "tokens": np.array([[7, 8]], dtype=np.int64)}
    b = {"lengths": np.array([3, 1], dtype=np.int64), "tokens": np.array([[1, 2, 3], [4, 0, 0]], dtype=np.int64)}
    merged, offsets = merge([a, b], pad_axes=True)
    assert offsets == [0, 1, 3]
    assert list(merged) == ["lengths", "tokens"]
    assert merged["lengths"].tolist() == [2, 3, 1]
    assert merged["tokens"].tolist() == [[7, 8, 0], [1, 2, 3], [4, 0, 0]]
    assert merged["tokens"].dtype == np.int64 and merged["lengths"].dtype == np.int64


def test_merge_pads_every_trailing_axis() -> None:
    a = {"f": np.ones((1, 2, 3), dtype=np.float32)}
    b = {"f": np.full((2, 3, 1), 2.0, dtype=np.float32)}
    merged, offsets = merge([a, b], pad_axes=True)
    f = merged["f"]
    assert f.shape == (3, 3, 3) and f.dtype == np.float32 and offsets == [0, 1, 3]
    assert f[0].tolist() == [[1, 1, 1], [1, 1, 1], [0, 0, 0]]
    assert f[1].tolist() == f[2].tolist() == [[2, 0, 0], [2, 0, 0], [2, 0, 0]]


def test_merge_without_padding_refuses_different_shapes_by_name() -> None:
    a = {"ok": np.zeros((1, 2)), "tokens": np.zeros((1, 2))}
    b = {"ok": np.zeros((1, 2)), "tokens": np.zeros((1, 3))}
    with pytest.raises(ValueError, match=r"^tokens: rows of different shapes \[\(2,\), \(3,\)\] cannot share a batch$"):
        merge([a, b], pad_axes=False)


def test_split_gives_each_request_its_rows() -> None:
    outputs = {"y": np.arange(10).reshape(5, 2), "z": np.arange(5)}
    parts = split(outputs, [0, 1, 4, 5])
    assert [p["y"].tolist() for p in parts] == [[[0, 1]], [[2, 3], [4, 5], [6, 7]], [[8, 9]]]
    assert [p["z"].tolist() for p in parts] == [[0], [1, 2, 3], [4]]
    assert split(outputs, [0]) == []
