"""The dynamic batcher without HTTP: flush on size and on delay, order, error fan-out, a full
queue, cancelled and disconnected requests, padding, and the policy's precedence."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

import service.batching.batcher as batcher_module
from service.batching.batcher import DynamicBatcher, QueueFull
from service.batching.padding import merge, split
from service.batching.policy import BatchPolicy
from service.errors import BadRequest, ClientGone
from service.package import BatchingConfig
from service.runtime.thread import ModelThread
from service.settings import Settings
from service.v2.stats import ModelStats

Tensors = dict[str, np.ndarray]


class FakeModel:
    """``x`` → ``y = 2x + row sum``; records every batch; can be held (gate) or made to fail."""

    def __init__(self) -> None:
        self.calls: list[np.ndarray] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def run(self, inputs: Tensors) -> Tensors:
        self.entered.set()
        assert self.gate.wait(10)
        x = inputs["x"]
        self.calls.append(x.copy())
        if (x < 0).any():
            raise BadRequest("negative input", field="x", rule="x >= 0")
        return {"y": 2 * x + x.sum(axis=1, keepdims=True)}


@pytest.fixture
def executor() -> Iterator[ModelThread]:
    thread = ModelThread("test-model")
    yield thread
    thread.close()


def make(
    model: FakeModel,
    executor: ModelThread,
    *,
    size: int = 8,
    delay_us: int = 0,
    queue: int = 64,
    stats: ModelStats | None = None,
) -> DynamicBatcher:
    return DynamicBatcher("m", BatchPolicy(True, size, delay_us, queue, "test"), model.run, executor, stats)


def rows(value: float, n: int = 1) -> Tensors:
    return {"x": np.full((n, 3), value, dtype=np.float32) + np.arange(n, dtype=np.float32)[:, None]}


def expected(inputs: Tensors) -> np.ndarray:
    x = inputs["x"]
    return 2 * x + x.sum(axis=1, keepdims=True)


async def wait_until(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.001)


def test_flush_on_size_before_the_delay(executor: ModelThread) -> None:
    model = FakeModel()
    stats = ModelStats()
    batcher = make(model, executor, size=4, delay_us=10_000_000, stats=stats)  # a 10 s delay

    async def go() -> list:
        return await asyncio.gather(*(batcher.infer(rows(i)) for i in range(4)))

    started = time.monotonic()
    results = asyncio.run(asyncio.wait_for(go(), 5))
    assert time.monotonic() - started < 2  # did not wait for the delay: the batch was full
    assert [r[3] for r in results] == [4, 4, 4, 4]
    assert len(model.calls) == 1 and model.calls[0].shape == (4, 3)
    assert stats.batches[4][0] == 1 and stats.execution_count == 1


def test_flush_on_delay_with_a_partial_batch(executor: ModelThread) -> None:
    model = FakeModel()
    batcher = make(model, executor, size=8, delay_us=80_000)

    async def go() -> tuple[list, float]:
        t0 = time.monotonic()
        out = await asyncio.gather(batcher.infer(rows(1)), batcher.infer(rows(2)))
        return out, time.monotonic() - t0

    results, elapsed = asyncio.run(go())
    assert elapsed >= 0.075  # waited for more requests, then ran what it had
    assert [r[3] for r in results] == [2, 2]
    queue_ms = [r[1] / 1e6 for r in results]
    assert min(queue_ms) >= 70  # the wait is reported as queue time


def test_no_delay_runs_an_idle_model_at_once_and_batches_what_queued_meanwhile(executor: ModelThread) -> None:
    model = FakeModel()
    batcher = make(model, executor, size=8, delay_us=0)

    async def go() -> list:
        model.gate.clear()
        first = asyncio.ensure_future(batcher.infer(rows(0)))
        await wait_until(model.entered.is_set)
        rest = [asyncio.ensure_future(batcher.infer(rows(i))) for i in range(1, 4)]
        await wait_until(lambda: batcher.depth == 3)
        model.gate.set()
        return await asyncio.gather(first, *rest)

    results = asyncio.run(go())
    assert [r[3] for r in results] == [1, 3, 3, 3]


def test_order_and_multi_row_requests_are_split_back(executor: ModelThread) -> None:
    model = FakeModel()
    batcher = make(model, executor, size=6, delay_us=50_000)
    requests = [rows(10 * i, n) for i, n in enumerate([1, 3, 2, 4, 1])]  # 11 rows: batches of 6, 5

    async def go() -> list:
        return await asyncio.gather(*(batcher.infer(r) for r in requests))

    results = asyncio.run(go())
    for req, (outputs, _, _, _) in zip(requests, results, strict=True):
        np.testing.assert_array_equal(outputs["y"], expected(req))
    # whole requests, FIFO: [1, 3, 2] then [4, 1]; rows in submission order
    assert [c.shape[0] for c in model.calls] == [6, 5]
    np.testing.assert_array_equal(np.concatenate(model.calls), np.concatenate([r["x"] for r in requests]))
    assert [r[3] for r in results] == [6, 6, 6, 5, 5]


def test_a_request_bigger_than_the_batch_rides_alone(executor: ModelThread) -> None:
    model = FakeModel()
    batcher = make(model, executor, size=2, delay_us=20_000)
    big = rows(1, 5)
    outputs, _, _, size = asyncio.run(batcher.infer(big))
    assert size == 5
    np.testing.assert_array_equal(outputs["y"], expected(big))


def test_an_error_fans_out_to_every_member_and_the_batcher_goes_on(executor: ModelThread) -> None:
    model = FakeModel()
    batcher = make(model, executor, size=3, delay_us=50_000)

    async def go() -> tuple[list, tuple]:
        failed = await asyncio.gather(
            batcher.infer(rows(1)), batcher.infer(rows(-5)), batcher.infer(rows(2)), return_exceptions=True
        )
        return failed, await batcher.infer(rows(3))

    failed, after = asyncio.run(go())
    assert all(isinstance(e, BadRequest) and e.field == "x" for e in failed)
    np.testing.assert_array_equal(after[0]["y"], expected(rows(3)))


def test_full_queue_is_refused_at_once_with_retry_after_and_recovers(executor: ModelThread) -> None:
    model = FakeModel()
    batcher = make(model, executor, size=1, queue=2)

    async def go() -> None:
        model.gate.clear()
        running = asyncio.ensure_future(batcher.infer(rows(0)))
        await wait_until(model.entered.is_set)
        queued = [asyncio.ensure_future(batcher.infer(rows(i))) for i in (1, 2)]
        await wait_until(lambda: batcher.depth == 2)
        t0 = time.monotonic()
        with pytest.raises(QueueFull) as refused:
            await batcher.infer(rows(3))
        assert time.monotonic() - t0 < 0.05  # at once, no waiting for room
        assert refused.value.status == 503 and refused.value.headers["Retry-After"].isdigit()
        model.gate.set()
        done = await asyncio.gather(running, *queued)
        assert [d[0]["y"][0, 0] for d in done] == [0.0, 5.0, 10.0]  # 2x + 3x for x = 0, 1, 2
        assert (await batcher.infer(rows(4)))[3] == 1  # room again
        assert batcher.counters.rejected == 1

    asyncio.run(go())


def test_cancelled_request_is_dropped_before_it_runs(executor: ModelThread) -> None:
    model = FakeModel()
    batcher = make(model, executor, size=8)

    async def go() -> None:
        model.gate.clear()
        running = asyncio.ensure_future(batcher.infer(rows(0)))
        await wait_until(model.entered.is_set)
        doomed = asyncio.ensure_future(batcher.infer(rows(77)))
        kept = asyncio.ensure_future(batcher.infer(rows(5)))
        await wait_until(lambda: batcher.depth == 2)
        doomed.cancel()
        model.gate.set()
        await asyncio.gather(running, kept)
        assert doomed.cancelled()

    asyncio.run(go())
    assert not any((c == 77).any() for c in model.calls)
    assert batcher.counters.dropped == 1


class Client:
    """Stands in for a request's connection: ``gone()`` is what the batcher asks before a run."""

    disconnected = False

    async def gone(self) -> bool:
        return self.disconnected


def test_request_of_a_disconnected_client_is_dropped(executor: ModelThread, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batcher_module, "GONE_CHECK_AFTER_NS", 0)  # ask every queued member, however fresh
    model = FakeModel()
    batcher = make(model, executor, size=8)
    client = Client()

    async def go() -> None:
        model.gate.clear()
        running = asyncio.ensure_future(batcher.infer(rows(0)))
        await wait_until(model.entered.is_set)
        gone = asyncio.ensure_future(batcher.infer(rows(66), client.gone))
        kept = asyncio.ensure_future(batcher.infer(rows(4), Client().gone))
        await wait_until(lambda: batcher.depth == 2)
        client.disconnected = True
        model.gate.set()
        await asyncio.gather(running, kept)
        with pytest.raises(ClientGone):
            await gone

    asyncio.run(go())
    assert not any((c == 66).any() for c in model.calls)
    assert batcher.counters.dropped == 1


def test_merge_right_pads_variable_length_rows_and_split_undoes_it() -> None:
    a = {"tokens": np.array([[5, 6, 7]]), "lengths": np.array([3])}
    b = {"tokens": np.array([[8, 9], [4, 0]]), "lengths": np.array([2, 1])}
    merged, offsets = merge([a, b], pad_axes=True)
    np.testing.assert_array_equal(merged["tokens"], [[5, 6, 7], [8, 9, 0], [4, 0, 0]])
    np.testing.assert_array_equal(merged["lengths"], [3, 2, 1])
    assert offsets == [0, 1, 3]
    parts = split({"logits": np.arange(6).reshape(3, 2)}, offsets)
    np.testing.assert_array_equal(parts[1]["logits"], [[2, 3], [4, 5]])
    with pytest.raises(ValueError, match="different shapes"):
        merge([a, b], pad_axes=False)


def test_policy_precedence() -> None:
    package = BatchingConfig(max_batch_rows=4, max_queue_delay_us=100, max_queue_size=9)
    on = BatchPolicy.resolve(Settings(max_batch_rows=12, max_queue_delay_us=7, max_queue_size=30), package)
    assert (on.enabled, on.max_batch_rows, on.max_queue_delay_us, on.max_queue_size) == (True, 12, 7, 30)
    from_package = BatchPolicy.resolve(Settings(batching="package"), package)
    assert (from_package.max_batch_rows, from_package.max_queue_delay_us, from_package.max_queue_size) == (4, 100, 9)
    assert not BatchPolicy.resolve(Settings(batching="package"), BatchingConfig()).enabled  # model.json size 1
    assert not BatchPolicy.resolve(Settings(batching="off"), package).enabled
