"""loadtest/stats.py on hand-made counts and segments.

Percentiles follow HdrHistogram's rule, worked out by hand: the value of the ``round(p·N/100)``-th
recorded value (at least the first). Values below 2048 µs are exact at 3 significant digits; 5000 µs
lies in a bucket 4 µs wide, [5000, 5003], reported as its highest value.

The A/B bootstrap is checked where its answer is known exactly: with two rounds a resample is
round 0 twice, round 1 twice, or both (probabilities ¼, ¼, ½), so the 95 % interval runs from the
smaller single-round ratio to the larger, and at level 0.2 (the 40th to the 60th percentile) it is
the pooled ratio alone.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram

from loadtest.recorder import Segment, new_histogram
from loadtest.stats import (
    PERCENTILES,
    bucket_values,
    counts_of,
    merge,
    percentile_from_counts,
    ratio_ci,
    summarise_latency,
)

COUNTS = np.array([1, 2, 3, 4])
VALUES = np.array([10.0, 20.0, 30.0, 40.0])


@pytest.mark.parametrize(
    ("percentile", "expected"),
    [
        (0.0, 10.0),  # at least the first value
        (10.0, 10.0),  # round(1.0) = 1st
        (29.0, 20.0),  # round(2.9) = 3rd
        (35.0, 30.0),  # round(3.5) = 4th (half rounds up)
        (36.0, 30.0),
        (60.0, 30.0),  # 6th: the last 30
        (61.0, 30.0),  # round(6.1) = 6th
        (66.0, 40.0),  # round(6.6) = 7th
        (100.0, 40.0),
        (250.0, 40.0),  # above 100 is 100
    ],
)
def test_percentile_from_counts_by_hand(percentile: float, expected: float) -> None:
    # values 10, 20, 20, 30, 30, 30, 40, 40, 40, 40
    assert percentile_from_counts(COUNTS, VALUES, percentile) == expected


def test_percentile_rounding_and_clamping_at_a_hundred_values() -> None:
    counts, values = np.array([50, 49, 1]), np.array([1.0, 2.0, 3.0])
    assert percentile_from_counts(counts, values, 50.4) == 1.0  # 50th value
    assert percentile_from_counts(counts, values, 50.5) == 2.0  # round(50.5) = 51st
    assert percentile_from_counts(counts, values, 99.0) == 2.0
    assert percentile_from_counts(counts, values, 99.5) == 3.0
    assert percentile_from_counts(counts, values, 101.0) == 3.0
    assert percentile_from_counts(counts, values, 0.4) == 1.0


def test_percentile_of_no_values_is_zero() -> None:
    assert percentile_from_counts(np.zeros(4, dtype=np.int64), VALUES, 50.0) == 0.0
    assert percentile_from_counts(np.array([0, 0, 2, 0]), VALUES, 50.0) == 30.0


def _nan(value: float | None) -> bool:
    return value is not None and math.isnan(value)


def _hist(*values_us: int) -> HdrHistogram:
    h = new_histogram()
    for v in values_us:
        h.record_value(v)
    return h


def test_merge_adds_every_value() -> None:
    merged = merge([_hist(100, 200), _hist(300), _hist()])
    assert merged.get_total_count() == 3 and merged.get_max_value() == 300
    assert merge([]).get_total_count() == 0


def test_counts_and_bucket_values_describe_the_histogram() -> None:
    h = _hist(100, 100, 1000, 5000)
    counts = counts_of(h)
    values = bucket_values()
    assert counts.dtype == np.int64 and len(counts) == len(values) == h.counts_len
    used = np.nonzero(counts)[0]
    assert counts[used].tolist() == [2, 1, 1]
    assert values[used].tolist() == [100.0, 1000.0, 5003.0]
    assert values[0] == 0.0 and np.all(np.diff(values) > 0)


def test_summarise_latency_in_ms() -> None:
    summary = summarise_latency(_hist(100, 200, 300, 1000, 5000))
    assert summary == pytest.approx(
        {
            "p50_ms": 0.3,  # 3rd of 5
            "p90_ms": 5.003,  # round(4.5) = 5th
            "p99_ms": 5.003,
            "p999_ms": 5.003,
            "max_ms": 5.003,
            "mean_ms": 1.3204,  # HdrHistogram's mean uses each bucket's middle: 5002 for 5000
        }
    )
    assert list(PERCENTILES) == ["p50_ms", "p90_ms", "p99_ms", "p999_ms"]


def test_summarise_latency_of_nothing_is_all_nan() -> None:
    summary = summarise_latency(new_histogram())
    assert set(summary) == {"p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "mean_ms"}
    assert all(math.isnan(v) for v in summary.values())


def _seg(
    latency_ms: float | None,
    n: int,
    elapsed: float,
    duration: float,
    server: dict[str, tuple[float, int]],
    rnd: int = 0,
) -> Segment:
    seg = Segment(model="m", round=rnd, offered_rps=None, mode="open", duration_s=duration, elapsed_s=elapsed)
    if latency_ms is not None:
        for _ in range(n):
            seg.record_ok(latency_ms / 1000, latency_ms / 1000, None)
    seg.server_sum_ms = {k: v[0] for k, v in server.items()}
    seg.server_count = {k: v[1] for k, v in server.items()}
    return seg


# round 0 / round 1 of each side (latencies below 2048 µs are exact); counts and durations differ
# between rounds and sides, so a statistic that mixed sums, counts or durations up would show
BASE = [
    _seg(0.1, 4, elapsed=2.0, duration=1.0, server={"inference": (10.0, 4), "total": (20.0, 4)}),
    _seg(0.2, 4, elapsed=1.0, duration=4.0, server={"inference": (6.0, 3), "total": (20.0, 4)}, rnd=1),
]
CAND = [
    _seg(0.3, 4, elapsed=2.0, duration=0.5, server={"inference": (5.0, 2), "total": (10.0, 4)}),
    _seg(1.0, 4, elapsed=0.4, duration=0.25, server={"inference": (8.0, 5), "total": (30.0, 4)}, rnd=1),
]
#: stat → (round-0 ratio, round-1 ratio, pooled ratio), each worked out by hand
EXPECTED = {
    # pooled base [100 ×4, 200 ×4] µs: p50 is the 4th (100), the higher percentiles and max 200;
    # pooled candidate [300 ×4, 1000 ×4]: 300 and 1000
    "p50_ms": (3.0, 5.0, 3.0),
    "p90_ms": (3.0, 5.0, 5.0),
    "p99_ms": (3.0, 5.0, 5.0),
    "p999_ms": (3.0, 5.0, 5.0),
    "max_ms": (3.0, 5.0, 5.0),
    # ok / max(elapsed, duration): base 4/2 and 4/4, pooled 8/6; candidate 4/2 and 4/0.4, pooled 8/2.4
    "throughput_rps": (1.0, 10.0, 2.5),
    # Server-Timing means: base 10/4 and 6/3, pooled 16/7; candidate 5/2 and 8/5, pooled 13/7
    "server_inference_ms": (1.0, 0.8, 13 / 16),
    # base 20/4 and 20/4; candidate 10/4 and 30/4, pooled 40/8
    "server_total_ms": (0.5, 1.5, 1.0),
}


@pytest.fixture(autouse=True)
def _no_numpy_warnings() -> Iterator[None]:
    """Empty sides and zero durations are handled, never divided by zero with a RuntimeWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def test_ratio_ci_with_two_rounds_spans_the_single_round_ratios() -> None:
    got = ratio_ci(BASE, CAND, resamples=400)
    assert set(got) == set(EXPECTED)
    for stat, (r0, r1, pooled) in EXPECTED.items():
        assert got[stat]["ratio"] == pytest.approx(pooled), stat
        assert got[stat]["ci_low"] == pytest.approx(min(r0, r1)), stat
        assert got[stat]["ci_high"] == pytest.approx(max(r0, r1)), stat


def test_ratio_ci_at_a_narrow_level_is_the_pooled_ratio() -> None:
    got = ratio_ci(BASE, CAND, stats=("throughput_rps", "server_inference_ms"), resamples=2000, level=0.2)
    assert set(got) == {"throughput_rps", "server_inference_ms"}
    assert got["throughput_rps"] == pytest.approx({"ratio": 2.5, "ci_low": 2.5, "ci_high": 2.5})
    assert got["server_inference_ms"] == pytest.approx({"ratio": 13 / 16, "ci_low": 13 / 16, "ci_high": 13 / 16})


def test_ratio_ci_defaults_are_2000_resamples_seed_0_and_95_percent() -> None:
    rng = np.random.default_rng(5)
    base = [_seg(None, 0, 1.0, 1.0, {}, r) for r in range(4)]
    cand = [_seg(None, 0, 1.0, 1.0, {}, r) for r in range(4)]
    for r in range(4):
        for v in rng.integers(100, 2000, 50):
            base[r].record_ok(v / 1e6, v / 1e6, None)
        for v in rng.integers(100, 2000, 50):
            cand[r].record_ok(v / 1e6, v / 1e6, None)
    stats = ("p50_ms", "p90_ms")
    default = ratio_ci(base, cand, stats)
    assert default == ratio_ci(base, cand, stats, resamples=2000, seed=0, level=0.95)
    # and each of them matters, so the line above does say something
    assert default != ratio_ci(base, cand, stats, resamples=2000, seed=1, level=0.95)
    assert default != ratio_ci(base, cand, stats, resamples=1999, seed=0, level=0.95)
    assert default != ratio_ci(base, cand, stats, resamples=2000, seed=0, level=0.9)


def test_one_round_has_a_point_estimate_but_no_interval() -> None:
    got = ratio_ci(BASE[:1], CAND[:1], stats=("p50_ms", "throughput_rps"))
    assert got == {
        "p50_ms": {"ratio": pytest.approx(3.0), "ci_low": None, "ci_high": None},
        "throughput_rps": {"ratio": pytest.approx(1.0), "ci_low": None, "ci_high": None},
    }
    # one Server-Timing entry a side is enough for a mean
    one = ratio_ci(
        [_seg(0.1, 1, 1.0, 1.0, {"inference": (2.0, 1)})],
        [_seg(0.1, 1, 1.0, 1.0, {"inference": (3.0, 1)})],
        stats=("server_inference_ms",),
    )
    assert one["server_inference_ms"]["ratio"] == pytest.approx(1.5)


def test_rounds_must_be_paired() -> None:
    with pytest.raises(ValueError, match=r"^A/B rounds must be paired$"):
        ratio_ci(BASE, CAND[:1])


def test_a_side_without_answers_gives_nan_or_zero_never_an_error() -> None:
    empty = [_seg(None, 0, elapsed=1.0, duration=1.0, server={}, rnd=r) for r in range(2)]
    got = ratio_ci(empty, CAND, resamples=50)
    for stat in ("p50_ms", "max_ms", "throughput_rps", "server_inference_ms"):
        assert _nan(got[stat]["ratio"]) and got[stat]["ci_low"] is None and got[stat]["ci_high"] is None, stat
    got = ratio_ci(BASE, empty, resamples=50)
    assert got["p50_ms"] == {"ratio": 0.0, "ci_low": 0.0, "ci_high": 0.0}  # a percentile of nothing is 0
    assert got["throughput_rps"] == {"ratio": 0.0, "ci_low": 0.0, "ci_high": 0.0}
    assert _nan(got["max_ms"]["ratio"]) and got["max_ms"]["ci_low"] is None
    assert _nan(got["server_total_ms"]["ratio"])


def test_a_round_without_server_timing_adds_nothing_to_the_means() -> None:
    # the base's round 1 sent no Server-Timing: its mean comes from round 0 alone (10/4), resamples of
    # round 1 alone have none and are left out; candidate pooled 13/7
    base = [BASE[0], _seg(0.2, 4, elapsed=1.0, duration=1.0, server={}, rnd=1)]
    got = ratio_ci(base, CAND, stats=("server_inference_ms",), resamples=400)
    assert got["server_inference_ms"] == pytest.approx(
        {"ratio": (13 / 7) / 2.5, "ci_low": (13 / 7) / 2.5, "ci_high": 1.0}
    )


def test_zero_durations_give_no_throughput() -> None:
    still = [_seg(0.1, 2, elapsed=0.0, duration=0.0, server={}, rnd=r) for r in range(2)]
    got = ratio_ci(still, CAND, stats=("throughput_rps",), resamples=50)
    assert _nan(got["throughput_rps"]["ratio"]) and got["throughput_rps"]["ci_low"] is None
    got = ratio_ci(BASE, still, stats=("throughput_rps",), resamples=50)
    assert _nan(got["throughput_rps"]["ratio"])


def test_resamples_without_a_finite_ratio_are_left_out() -> None:
    # the base's round 1 has no answers: resamples of round 1 alone have no base max and are skipped,
    # which leaves round 0 alone (ratio 3) and both rounds (cand max 1000 over base 100: 10)
    base = [BASE[0], _seg(None, 0, elapsed=1.0, duration=1.0, server={}, rnd=1)]
    got = ratio_ci(base, CAND, stats=("max_ms",), resamples=400)
    assert got["max_ms"] == pytest.approx({"ratio": 10.0, "ci_low": 3.0, "ci_high": 10.0})
