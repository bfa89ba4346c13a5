"""service/v2/stats.py: Triton's statistics document after known calls, written out in full."""

from __future__ import annotations

import time

import pytest

from service.timing import Timing
from service.v2.stats import MAX_ROWS, STAT_KEYS, ModelStats


def _zero(count: int = 0, ns: int = 0) -> dict[str, int]:
    return {"count": count, "ns": ns}


def test_a_fresh_model_reports_zeros() -> None:
    assert STAT_KEYS == ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output")
    assert ModelStats().as_triton("m", "1") == {
        "name": "m",
        "version": "1",
        "last_inference": 0,
        "inference_count": 0,
        "execution_count": 0,
        "inference_stats": {
            "success": _zero(),
            "fail": _zero(),
            "queue": _zero(),
            "compute_input": _zero(),
            "compute_infer": _zero(),
            "compute_output": _zero(),
            "cache_hit": _zero(),
            "cache_miss": _zero(),
        },
        "batch_stats": [],
    }


def test_two_instances_do_not_share_counters() -> None:
    a, b = ModelStats(), ModelStats()
    a.record_failure(5)
    assert b.counts["fail"] == [0, 0]


def test_successes_failures_and_batches_add_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", lambda: 1234.5)
    s = ModelStats()
    s.record_success(Timing(queue_ns=10, preprocess_ns=20, inference_ns=30, postprocess_ns=40, total_ns=100), 3)
    s.record_success(Timing(queue_ns=1, preprocess_ns=2, inference_ns=3, postprocess_ns=4, total_ns=11), 2)
    s.record_failure(7)
    s.record_failure(8)
    s.record_failure(9)
    s.record_batch(4, 100, 200, 300)
    s.record_batch(1, 5, 6, 7)
    s.record_batch(4, 1, 2, 3)
    doc = s.as_triton("sentiment-gru", "2")
    assert doc["last_inference"] == 1_234_500  # ms since the epoch
    assert doc["inference_count"] == 5  # rows: 3 + 2
    assert doc["execution_count"] == 3  # session.run calls
    assert doc["inference_stats"] == {
        "success": _zero(2, 111),
        "fail": _zero(3, 24),
        "queue": _zero(2, 11),
        "compute_input": _zero(2, 22),
        "compute_infer": _zero(2, 33),
        "compute_output": _zero(2, 44),
        "cache_hit": _zero(),
        "cache_miss": _zero(),
    }
    # ascending batch size, whatever the order they were first seen in
    assert doc["batch_stats"] == [
        {"batch_size": 1, "compute_input": _zero(1, 5), "compute_infer": _zero(1, 6), "compute_output": _zero(1, 7)},
        {
            "batch_size": 4,
            "compute_input": _zero(2, 101),
            "compute_infer": _zero(2, 202),
            "compute_output": _zero(2, 303),
        },
    ]
    assert s.batches == {4: [2, 101, 202, 303], 1: [1, 5, 6, 7]}


def test_last_inference_is_the_wall_clock_of_the_latest_success(monkeypatch: pytest.MonkeyPatch) -> None:
    s = ModelStats()
    monkeypatch.setattr(time, "time", lambda: 10.0)
    s.record_success(Timing(total_ns=1), 1)
    monkeypatch.setattr(time, "time", lambda: 20.25)
    s.record_success(Timing(total_ns=1), 1)
    s.record_failure(1)  # a failure is not an inference
    assert s.last_inference_ms == 20_250


def test_queue_refusals_and_depth() -> None:
    s = ModelStats()
    s.record_depth(3)
    s.record_refused("queue_full")
    s.record_refused("client_gone")
    s.record_refused("client_gone")
    assert s.queue() == (3, 1, 2)
    s.record_depth(0)
    assert s.queue() == (0, 1, 2)


def test_the_largest_batch_size_has_its_slot() -> None:
    s = ModelStats()
    s.record_batch(MAX_ROWS, 1, 2, 3)
    s.record_batch(1, 4, 5, 6)
    assert s.batches == {1: [1, 4, 5, 6], MAX_ROWS: [1, 1, 2, 3]}
    assert s.execution_count == 2
