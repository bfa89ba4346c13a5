"""service/v2/stats.py: Triton's statistics document after known calls, written out in full."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from service.observability.recent import LatencyRing
from service.timing import Timing
from service.v2.stats import MAX_ROWS, STAT_KEYS, ModelStats
from service.workers.shared import CounterSpace, forget_gauges


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


def test_workers_slabs_add_up_and_a_dead_workers_gauges_are_zeroed(tmp_path: Path) -> None:
    """Two processes' stats in one shared folder (the parent and a forked child), read from either."""
    space = CounterSpace()
    space.share(tmp_path)
    assert space.directory is not None
    mine = space.slab("m", 64)
    pid = os.fork()
    if pid == 0:  # the other worker: its own slab, then exit without running any pytest code
        theirs = space.slab("m", 64)
        theirs.values[0] += 5
        theirs.values[3] = 7
        os._exit(0)
    os.waitpid(pid, 0)
    mine.values[0] += 2
    mine.values[3] = 1
    assert mine.totals()[[0, 3]].tolist() == [7, 8]
    assert mine.maxima(3) == 7
    assert space.slab("other", 64).totals().sum() == 0  # another model's slabs are not read
    forget_gauges(space.directory, pid, (3,))
    assert mine.totals()[[0, 3]].tolist() == [7, 1]  # the dead worker's count stays, its gauge goes


def test_latency_rings_of_two_workers_merge_by_finish_time(tmp_path: Path) -> None:
    space = CounterSpace()
    space.share(tmp_path)
    monkey = pytest.MonkeyPatch()
    monkey.setattr("service.observability.recent.COUNTERS", space)
    try:
        ring = LatencyRing("m", 3)
        pid = os.fork()
        if pid == 0:
            other = LatencyRing("m", 3)
            for start in (10, 30, 50):  # finishes at 11, 31, 51
                other.record(1, start)
            os._exit(0)
        os.waitpid(pid, 0)
        for start in (20, 40):  # finishes at 22, 42
            ring.record(2, start)
        count, totals, done = ring.samples()
    finally:
        monkey.undo()
    assert count == 5
    assert sorted(done.tolist()) == [31, 42, 51] and sorted(totals.tolist()) == [1, 1, 2]  # the newest 3


def test_a_run_without_merge_time_is_still_listed() -> None:
    """The runner's fast path records a batch with 0 ns of merge (compute_input): it still counts."""
    s = ModelStats()
    s.record_batch(2, 0, 5, 0)
    assert s.as_triton("m", "1")["batch_stats"] == [
        {"batch_size": 2, "compute_input": _zero(1, 0), "compute_infer": _zero(1, 5), "compute_output": _zero(1, 0)}
    ]


def test_each_models_stats_are_its_own_file_in_worker_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    space = CounterSpace()
    space.share(tmp_path)
    monkeypatch.setattr("service.v2.stats.COUNTERS", space)
    a, b = ModelStats("a"), ModelStats("b")
    a.record_failure(4)
    b.record_failure(6)
    assert space.directory is not None
    assert sorted(p.name for p in space.directory.iterdir()) == [f"a.{os.getpid()}.stats", f"b.{os.getpid()}.stats"]
    assert a.counts["fail"] == [1, 4] and b.counts["fail"] == [1, 6]
    assert ModelStats("a").counts["fail"] == [1, 4]  # another reader of model a (a worker's view)
