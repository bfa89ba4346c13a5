"""loadtest/schedule.py: intended send offsets written out by hand (constant) and checked by their
statistics (poisson)."""

from __future__ import annotations

import numpy as np
import pytest

from loadtest.schedule import intended_offsets


@pytest.mark.parametrize(("rate", "duration"), [(0, 5), (-1, 5), (5, 0), (5, -1), (0, 0)])
def test_no_rate_or_no_duration_sends_nothing(rate: float, duration: float) -> None:
    for arrival in ("constant", "poisson"):
        assert intended_offsets(rate, duration, arrival, 0).shape == (0,)


def test_constant_offsets_by_hand() -> None:
    assert intended_offsets(4, 1, "constant", 0).tolist() == [0.0, 0.25, 0.5, 0.75]
    assert intended_offsets(2, 3, "constant", 0).tolist() == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    # a rate of one per second or less still sends at t0
    assert intended_offsets(1, 1, "constant", 0).tolist() == [0.0]
    assert intended_offsets(0.5, 1, "constant", 0).tolist() == [0.0]
    assert intended_offsets(0.5, 5, "constant", 0).tolist() == [0.0, 2.0, 4.0]
    # 3/s for 1.5 s: 0, 1/3, 2/3, 1, 4/3 (4.5 requests round up to 5: the last one starts before the end)
    assert intended_offsets(3, 1.5, "constant", 0) == pytest.approx([0, 1 / 3, 2 / 3, 1, 4 / 3])


def test_constant_is_exactly_rate_times_duration_when_whole() -> None:
    offsets = intended_offsets(50, 4, "constant", 0)
    assert len(offsets) == 200 and offsets[-1] == pytest.approx(3.98)
    assert len(intended_offsets(1000, 0.01, "constant", 0)) == 10


def test_unknown_arrival_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^arrival must be constant or poisson; got 'burst'$"):
        intended_offsets(10, 1, "burst", 0)


def test_poisson_is_seeded_and_starts_at_t0() -> None:
    a, b = intended_offsets(100, 5, "poisson", 3), intended_offsets(100, 5, "poisson", 3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a[:50], intended_offsets(100, 5, "poisson", 4)[:50])
    assert a[0] == 0.0 and np.all(np.diff(a) > 0) and a[-1] < 5


def test_poisson_gaps_have_mean_one_over_rate_and_fill_the_duration() -> None:
    offsets = intended_offsets(400, 10, "poisson", 11)
    # 4000 expected, sd 63: the count and the mean gap are within 4 sd
    assert abs(len(offsets) - 4000) < 4 * np.sqrt(4000)
    assert np.diff(offsets).mean() == pytest.approx(1 / 400, rel=0.07)
    assert offsets[-1] > 10 - 0.05  # the draws were not cut short before the end


def test_poisson_at_a_low_rate() -> None:
    # one per second for one second: a few draws, the first at t0, all inside the second
    for seed in range(20):
        offsets = intended_offsets(1, 1, "poisson", seed)
        assert offsets[0] == 0.0 and np.all(offsets < 1)
    counts = [len(intended_offsets(2, 50, "poisson", seed)) for seed in range(5)]
    assert all(abs(c - 100) < 45 for c in counts)
