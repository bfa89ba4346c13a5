"""Length-aware runs (service/padding.py): the cost model's fit, the plan's invariants, and that a
batcher with a fitted cost model still answers every request exactly as one padded run would."""

from __future__ import annotations

import random

import numpy as np

from service.batching.padding import PaddedCost, merge, plan, split


def test_fit_recovers_a_known_cost_model() -> None:
    truth = PaddedCost(call_us=20.0, step_us=1.0, row_step_us=2.0)
    fitted = PaddedCost.fit(lambda rows, steps: truth.of(rows, steps))
    assert abs(fitted.call_us - 20.0) < 1e-6 and abs(fitted.step_us - 1.0) < 1e-6
    assert abs(fitted.row_step_us - 2.0) < 1e-6


def test_fit_clamps_noise_to_non_negative_costs() -> None:
    fitted = PaddedCost.fit(lambda rows, steps: 50.0)  # flat timings: no step or row cost visible
    assert fitted.call_us >= 0 and fitted.step_us >= 0 and fitted.row_step_us > 0


def test_plan_covers_every_part_once_in_ascending_length() -> None:
    rng = random.Random(1)
    cost = PaddedCost(20.0, 1.0, 2.0)
    for _ in range(200):
        n = rng.randint(1, 40)
        lengths = [rng.randint(1, 60) for _ in range(n)]
        rows = [rng.choice([1, 1, 1, 3]) for _ in range(n)]
        runs = plan(lengths, rows, cost)
        assert sorted(i for run in runs for i in run) == list(range(n))
        flat = [lengths[i] for run in runs for i in run]
        assert flat == sorted(flat)


def test_plan_extremes() -> None:
    lengths = [5, 40, 5, 40, 5]
    # a per-call cost that dwarfs everything: one run, whatever the padding
    assert [sorted(r) for r in plan(lengths, [1] * 5, PaddedCost(1e9, 0.0, 1.0))] == [[0, 1, 2, 3, 4]]
    # free calls and steps: padding is pure waste, so each length gets its own run
    assert [sorted(r) for r in plan(lengths, [1] * 5, PaddedCost(0.0, 0.0, 1.0))] == [[0, 2, 4], [1, 3]]


def test_plan_never_estimates_more_than_separate_runs() -> None:
    rng = random.Random(2)
    cost = PaddedCost(20.0, 1.0, 2.0)
    for _ in range(200):
        lengths = [rng.randint(1, 50) for _ in range(rng.randint(2, 32))]
        planned = sum(
            cost.of(len(run), max(lengths[i] for i in run)) for run in plan(lengths, [1] * len(lengths), cost)
        )
        assert planned <= sum(cost.of(1, n) for n in lengths) + 1e-9


def test_merge_and_split_round_trip_per_run() -> None:
    parts = [{"tokens": np.full((1, n), n, dtype=np.int64), "lengths": np.array([n])} for n in (3, 9, 4, 9)]
    for run in plan([3, 9, 4, 9], [1] * 4, PaddedCost(20.0, 1.0, 2.0)):
        merged, offsets = merge([parts[i] for i in run], pad_axes=True)
        assert merged["tokens"].shape == (len(run), max(parts[i]["tokens"].shape[1] for i in run))
        for i, piece in zip(run, split(merged, offsets), strict=True):
            n = int(parts[i]["lengths"][0])
            assert (piece["tokens"][0, :n] == n).all() and (piece["tokens"][0, n:] == 0).all()


def test_length_aware_runs_answer_like_separate_runs() -> None:
    """A batcher with a cost model splits mixed lengths into several runs; each part still gets the
    answer it gets alone (the fake model reads each row up to its own length, as sequence_lens does)."""
    from service.batching.batcher import DynamicBatcher
    from service.batching.policy import BatchPolicy
    from service.runtime.thread import ModelThread

    calls: list[tuple[int, int]] = []

    def run(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        tokens, lengths = inputs["tokens"], inputs["lengths"]
        calls.append(tokens.shape)
        return {"y": np.array([tokens[r, : lengths[r]].sum() for r in range(len(lengths))], dtype=np.float64)}

    thread = ModelThread("test-model")
    batcher = DynamicBatcher("m", BatchPolicy(True, 16, 0, 64, "test"), run, thread, pads=True)
    batcher.cost = PaddedCost(20.0, 1.0, 2.0)
    rng = np.random.default_rng(3)
    sizes = [2, 3, 45, 4, 50, 3, 2, 48]
    parts = [{"tokens": rng.integers(1, 99, (1, n)), "lengths": np.array([n])} for n in sizes]
    runs = batcher.run_parts(parts)
    thread.close()
    assert len(runs) >= 2 and len(calls) == len(runs)
    answers = {i: a for r in runs for i, a in zip(r.members, r.answers, strict=True)}
    for i, part in enumerate(parts):
        assert answers[i]["y"][0] == part["tokens"].sum()
    # the short sentences ran padded to their own length, not to the longest (50)
    assert min(shape[1] for shape in calls) <= 4 and max(shape[1] for shape in calls) == 50
