"""service/timing.py: the written-out ``as_dict``, ``server_timing`` and ``add`` equal the generic
forms over :data:`PHASES` they replaced (same keys, order, rounding and text)."""

from __future__ import annotations

import random

import pytest

from service.timing import PHASES, Timing, ms


def _generic_dict(t: Timing) -> dict[str, float]:
    out: dict[str, float] = {f"{phase}_ms": ms(getattr(t, f"{phase}_ns")) for phase in PHASES}
    if t.batch_size:
        out["batch_size"] = t.batch_size
    return out


def _generic_header(t: Timing) -> str:
    value = ", ".join(f"{phase};dur={getattr(t, f'{phase}_ns') / 1e6:.3f}" for phase in PHASES)
    return f'{value}, batch;desc="size={t.batch_size}"' if t.batch_size else value


def _random_timing(rng: random.Random) -> Timing:
    ns = [rng.choice([0, 1, 499, 500, 1500, rng.randrange(10**10)]) for _ in PHASES]
    return Timing(0, *ns, batch_size=rng.choice([0, 1, 8]), rows=rng.randrange(3))


@pytest.mark.parametrize("seed", range(20))
def test_as_dict_and_header_equal_the_generic_forms(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(50):
        t = _random_timing(rng)
        assert list(t.as_dict().items()) == list(_generic_dict(t).items())
        assert t.server_timing() == _generic_header(t)


def test_the_header_without_and_with_a_batch() -> None:
    t = Timing(0, 12_000, 1_000_000, 250_400, 0, 2_000_000)
    assert t.server_timing() == (
        "queue;dur=0.012, preprocess;dur=1.000, inference;dur=0.250, postprocess;dur=0.000, total;dur=2.000"
    )
    assert t.as_dict() == {
        "queue_ms": 0.012,
        "preprocess_ms": 1.0,
        "inference_ms": 0.25,
        "postprocess_ms": 0.0,
        "total_ms": 2.0,
    }
    t.batch_size = 8
    assert t.server_timing().endswith(', total;dur=2.000, batch;desc="size=8"')
    assert t.as_dict()["batch_size"] == 8


def test_add_accumulates_every_phase_but_total() -> None:
    a = Timing(5, 1, 2, 3, 4, 100, batch_size=2, rows=2)
    a.add(Timing(9, 10, 20, 30, 40, 1000, batch_size=3, rows=3))
    assert (a.start_ns, a.queue_ns, a.preprocess_ns, a.inference_ns, a.postprocess_ns, a.total_ns) == (
        5,
        11,
        22,
        33,
        44,
        100,
    )
    assert (a.batch_size, a.rows) == (2, 2)
