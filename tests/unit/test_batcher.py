"""service/batching/batcher.py, deterministically: the model's thread is a stand-in that runs a call
only when the test releases it, and ``now_ns`` is a clock the test sets, so queue and inference
times are exact numbers, and which request rides in which run is decided by the test's steps.

Every scenario runs under ``asyncio.wait_for``: a batcher that stops serving fails in seconds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np
import pytest

import service.batching.batcher as batcher_module
from service.batching.batcher import DynamicBatcher, ModelShuttingDown, QueueFull
from service.batching.padding import PaddedCost
from service.batching.policy import BatchPolicy
from service.errors import BadRequest, ClientGone
from service.runtime.activity import ACTIVITY

Tensors = dict[str, np.ndarray]
T = 3.0  # seconds any scenario may take


class Clock:
    def __init__(self) -> None:
        self.now = 1_000

    def __call__(self) -> int:
        return self.now


class HeldThread:
    """Stands in for ``ModelThread``: ``run`` parks the call until :meth:`release` (or runs it at once
    when not holding), on the test's event loop."""

    def __init__(self, hold: bool = True) -> None:
        self.hold = hold
        self.parked: list[tuple[Callable[..., Any], tuple[Any, ...], asyncio.Future[Any]]] = []
        self.submitted = 0

    def run(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.submitted += 1
        self.parked.append((fn, args, future))
        if not self.hold:
            self.release()
        return future

    def release(self) -> None:
        """Run the oldest parked call now, on this thread."""
        fn, args, future = self.parked.pop(0)
        try:
            future.set_result(fn(*args))
        except Exception as exc:
            future.set_exception(exc)


class Model:
    """``y = 10·x``; each run takes ``cost_ns`` on the test clock; a negative input fails the run."""

    def __init__(self, clock: Clock, cost_ns: int = 400) -> None:
        self.clock, self.cost_ns = clock, cost_ns
        self.batches: list[np.ndarray] = []

    def __call__(self, inputs: Tensors) -> Tensors:
        x = inputs["x"]
        self.batches.append(x.copy())
        self.clock.now += self.cost_ns
        if (x < 0).any():
            raise BadRequest("negative", field="x", rule="x >= 0")
        return {"y": 10 * x}


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int, int, int]] = []
        self.refused: list[str] = []
        self.depths: list[int] = []

    def record_batch(self, size: int, input_ns: int, infer_ns: int, output_ns: int) -> None:
        self.calls.append((size, input_ns, infer_ns, output_ns))

    def record_refused(self, reason: str) -> None:
        self.refused.append(reason)

    def record_depth(self, depth: int) -> None:
        self.depths.append(depth)


def x(*values: float) -> Tensors:
    """One row per value, two columns each."""
    return {"x": np.array([[v, v] for v in values], dtype=np.float64)}


def make(
    clock: Clock,
    *,
    rows: int = 8,
    delay_us: int = 0,
    queue: int = 64,
    hold: bool = True,
    recorder: Recorder | None = None,
) -> tuple[DynamicBatcher, HeldThread, Model]:
    thread, model = HeldThread(hold), Model(clock)
    policy = BatchPolicy(True, rows, delay_us, queue, "test")
    return DynamicBatcher("m", policy, model, thread, recorder), thread, model  # type: ignore[arg-type]


def run(scenario: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(scenario, T))


async def settle() -> None:
    """Let every ready callback and task step run."""
    for _ in range(10):
        await asyncio.sleep(0)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(batcher_module, "now_ns", c)
    return c


def test_an_idle_model_runs_a_request_at_once_with_exact_times(clock: Clock) -> None:
    recorder = Recorder()
    batcher, thread, _ = make(clock, recorder=recorder)
    assert batcher.pads is False and batcher.cost is None and batcher.idle

    async def go() -> None:
        task = asyncio.ensure_future(batcher.infer(x(1, 2)))
        await settle()
        assert not batcher.idle and batcher.depth == 0 and thread.submitted == 1
        clock.now = 1_300  # the hop to the model's thread took 300 ns
        thread.release()  # runs 1300 → 1700
        clock.now = 1_750  # and 50 ns back
        outputs, queue_ns, infer_ns, size = await task
        assert outputs["y"].tolist() == [[10, 10], [20, 20]]
        assert (queue_ns, infer_ns, size) == (350, 400, 2)
        assert batcher.idle and batcher._worker is None  # the fast path needs no worker

    run(go())
    assert batcher.counters.batches == {2: 1}
    assert recorder.calls == [(2, 0, 400, 0)]


def test_an_idle_model_queues_a_request_that_is_not_alone_so_it_shares_the_next_run(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With other requests in flight (a batch's members coming back with their next requests),
    the first one to reach the idle model does not run by itself: it queues, and the requests
    submitted in the same loop iteration ride in the same run."""
    recorder = Recorder()
    batcher, thread, model = make(clock, recorder=recorder)
    monkeypatch.setattr(ACTIVITY, "requests", 3)

    async def go() -> None:
        tasks = [asyncio.ensure_future(batcher.infer(x(v))) for v in (1, 2, 3)]
        await settle()
        assert thread.submitted == 1 and batcher.depth == 0 and not batcher.idle
        assert batcher._worker is not None  # it went through the worker, not the fast path
        thread.release()
        results = await asyncio.gather(*tasks)
        assert [r[0]["y"].tolist() for r in results] == [[[10, 10]], [[20, 20]], [[30, 30]]]
        assert [r[3] for r in results] == [3, 3, 3]

    run(go())
    assert [b.tolist() for b in model.batches] == [[[1, 1], [2, 2], [3, 3]]]
    assert batcher.counters.batches == {3: 1}
    assert recorder.depths == [1, 2, 3, 0]
    batcher.close()


def test_requests_arriving_during_a_run_queue_and_then_share_one_run(clock: Clock) -> None:
    recorder = Recorder()
    batcher, thread, model = make(clock, recorder=recorder)

    async def go() -> None:
        first = asyncio.ensure_future(batcher.infer(x(1)))
        await settle()
        clock.now = 1_200
        second = asyncio.ensure_future(batcher.infer(x(2, 3)))
        third = asyncio.ensure_future(batcher.infer(x(4)))
        await settle()
        # the model is busy: both wait, nothing more went to its thread
        assert batcher.depth == 2 and thread.submitted == 1 and not batcher.idle
        assert batcher._queued_rows == 3
        assert batcher._worker is not None and batcher._worker.get_name() == "batcher-m"
        clock.now = 1_500
        thread.release()  # first: 1500 → 1900
        clock.now = 1_950
        assert (await first)[1:] == (500 + 50, 400, 1)
        await settle()
        assert thread.submitted == 2 and batcher.depth == 0 and batcher._queued_rows == 0
        clock.now = 2_500
        thread.release()  # second and third together: 2500 → 2900
        clock.now = 3_000
        out2, queue2, infer2, size2 = await second
        out3, queue3, infer3, size3 = await third
        assert out2["y"].tolist() == [[20, 20], [30, 30]] and out3["y"].tolist() == [[40, 40]]
        # queued at 1200, run started at 2500; back at 3000
        assert (queue2, infer2, size2) == (1_300 + 100, 400, 3)
        assert (queue3, infer3, size3) == (1_300 + 100, 400, 3)
        await settle()
        assert batcher.idle

    run(go())
    assert [b.tolist() for b in model.batches] == [[[1, 1]], [[2, 2], [3, 3], [4, 4]]]
    assert batcher.counters.batches == {1: 1, 3: 1}
    assert recorder.calls == [(1, 0, 400, 0), (3, 0, 400, 0)]
    assert recorder.depths == [1, 2, 0]  # second queued, third queued, both taken into one run
    batcher.close()
    assert recorder.depths[-1] == 0 and recorder.refused == []


def test_whole_requests_fill_a_batch_up_to_max_rows_and_a_bigger_one_rides_alone(clock: Clock) -> None:
    batcher, thread, model = make(clock, rows=4)

    async def go() -> None:
        first = asyncio.ensure_future(batcher.infer(x(0)))
        await settle()
        waiting = [asyncio.ensure_future(batcher.infer(x(*[v] * n))) for v, n in ((1, 2), (2, 2), (3, 1), (4, 5))]
        await settle()
        for _ in range(4):  # the fast-path run, then [2 + 2], [1], [5]
            thread.release()
            await settle()
        await first
        sizes = [(await w)[3] for w in waiting]
        assert sizes == [4, 4, 1, 5]

    run(go())
    assert [len(b) for b in model.batches] == [1, 4, 1, 5]
    assert batcher.counters.batches == {1: 2, 4: 1, 5: 1}


def test_a_full_queue_refuses_at_once_and_counts_each_refusal(clock: Clock) -> None:
    recorder = Recorder()
    batcher, thread, _ = make(clock, queue=2, recorder=recorder)

    async def go() -> None:
        first = asyncio.ensure_future(batcher.infer(x(0)))
        await settle()
        queued = [asyncio.ensure_future(batcher.infer(x(v))) for v in (1, 2)]
        await settle()
        assert batcher.depth == 2
        for _ in range(2):
            with pytest.raises(QueueFull) as refused:
                await batcher.infer(x(9))
        err = refused.value
        assert (err.status, err.field, err.rule) == (503, "model", "at most 2 queued requests (max_queue_size)")
        assert err.message == "model 'm' is overloaded: 2 requests already queued; retry later"
        assert err.headers == {"Retry-After": "1"}
        assert batcher.counters.rejected == 2 and recorder.refused == ["queue_full", "queue_full"]
        thread.release()
        await settle()
        thread.release()
        await asyncio.gather(first, *queued)

    run(go())


def test_one_place_left_in_the_queue_is_taken(clock: Clock) -> None:
    batcher, thread, _ = make(clock, queue=2)

    async def go() -> None:
        first = asyncio.ensure_future(batcher.infer(x(0)))
        await settle()
        one = asyncio.ensure_future(batcher.infer(x(1)))
        await settle()
        two = asyncio.ensure_future(batcher.infer(x(2)))  # the second place: still accepted
        await settle()
        assert batcher.depth == 2 and batcher.counters.rejected == 0
        thread.release()
        await settle()
        thread.release()
        await asyncio.gather(first, one, two)

    run(go())


def test_a_failed_run_fails_every_member_and_the_batcher_goes_on(clock: Clock) -> None:
    batcher, thread, _ = make(clock)

    async def go() -> None:
        first = asyncio.ensure_future(batcher.infer(x(0)))
        await settle()
        members = [asyncio.ensure_future(batcher.infer(x(v))) for v in (1, -1, 2)]
        await settle()
        thread.hold = False
        thread.release()
        await first
        results = await asyncio.gather(*members, return_exceptions=True)
        assert all(isinstance(r, BadRequest) and r.field == "x" for r in results)
        assert (await batcher.infer(x(5)))[0]["y"].tolist() == [[50, 50]]

    run(go())
    assert batcher.counters.batches == {1: 2}  # the failed run is not counted as a batch


def test_a_member_cancelled_during_a_failing_run_does_not_break_the_others(clock: Clock) -> None:
    batcher, thread, _ = make(clock)

    async def go() -> None:
        first = asyncio.ensure_future(batcher.infer(x(0)))
        await settle()
        doomed = asyncio.ensure_future(batcher.infer(x(-1)))
        other = asyncio.ensure_future(batcher.infer(x(1)))
        await settle()
        thread.release()
        await first
        await settle()  # the batch of both is on the thread now
        doomed.cancel()
        await settle()
        thread.release()
        with pytest.raises(BadRequest):
            await other
        later = asyncio.ensure_future(batcher.infer(x(3)))  # the batcher still serves
        await settle()
        thread.release()
        assert (await later)[3] == 1

    run(go())


def test_a_member_cancelled_during_a_run_is_skipped_and_the_others_answered(clock: Clock) -> None:
    batcher, thread, _ = make(clock)

    async def go() -> None:
        first = asyncio.ensure_future(batcher.infer(x(0)))
        await settle()
        doomed = asyncio.ensure_future(batcher.infer(x(7)))
        kept = asyncio.ensure_future(batcher.infer(x(8)))
        await settle()
        thread.release()
        await first
        await settle()
        doomed.cancel()
        await settle()
        thread.release()
        assert (await kept)[0]["y"].tolist() == [[80, 80]]
        await settle()
        assert batcher.idle

    run(go())


def test_a_request_cancelled_while_queued_is_dropped_unrun(clock: Clock) -> None:
    recorder = Recorder()
    batcher, thread, model = make(clock, recorder=recorder)

    async def go() -> None:
        first = asyncio.ensure_future(batcher.infer(x(0)))
        await settle()
        doomed = asyncio.ensure_future(batcher.infer(x(7, 7)))
        kept = asyncio.ensure_future(batcher.infer(x(8)))
        await settle()
        assert batcher._queued_rows == 3
        doomed.cancel()
        await settle()
        thread.release()
        await first
        await settle()
        assert batcher._queued_rows == 0  # the dropped request's rows are gone from the count too
        thread.release()
        assert (await kept)[3] == 1

    run(go())
    assert [b.tolist() for b in model.batches] == [[[0, 0]], [[8, 8]]]
    assert batcher.counters.dropped == 1 and recorder.refused == ["client_gone"]


class Conn:
    def __init__(self, gone: bool) -> None:
        self.is_gone = gone
        self.asked = 0

    async def gone(self) -> bool:
        self.asked += 1
        return self.is_gone


def test_a_request_arriving_while_a_queued_batch_runs_waits_too(clock: Clock) -> None:
    batcher, thread, _ = make(clock)

    async def go() -> None:
        first = asyncio.ensure_future(batcher.infer(x(0)))
        await settle()
        second = asyncio.ensure_future(batcher.infer(x(1)))
        await settle()
        thread.release()
        await first
        await settle()  # the worker's batch (second) is on the thread now
        assert thread.submitted == 2 and batcher.depth == 0 and not batcher.idle
        third = asyncio.ensure_future(batcher.infer(x(2)))
        await settle()
        assert thread.submitted == 2 and batcher.depth == 1  # queued, not a second run at once
        thread.release()
        await second
        await settle()
        thread.release()
        assert (await third)[0]["y"].tolist() == [[20, 20]]

    run(go())


def test_cancelled_requests_are_skipped_and_the_rest_still_share_one_run(clock: Clock) -> None:
    batcher, thread, model = make(clock)

    async def go() -> None:
        first = asyncio.ensure_future(batcher.infer(x(0)))
        await settle()
        tasks = [asyncio.ensure_future(batcher.infer(x(v))) for v in (1, 2, 3, 4)]
        await settle()
        tasks[1].cancel()
        tasks[2].cancel()
        await settle()
        thread.release()
        await first
        await settle()
        thread.release()
        assert [(await tasks[i])[3] for i in (0, 3)] == [2, 2]

    run(go())
    assert [b[:, 0].tolist() for b in model.batches] == [[0], [1, 4]]  # one run of both live requests
    assert batcher.counters.dropped == 2


@pytest.mark.parametrize(("delay_us", "wait_s"), [(2_000, 0.002), (1, 1e-6)])
def test_a_lone_request_waits_exactly_the_queue_delay(clock: Clock, delay_us: int, wait_s: float) -> None:
    """With the test clock: the worker sets one timer for the whole delay, and when the clock has
    reached the deadline it runs what it has, without another timer."""
    batcher, _, model = make(clock, delay_us=delay_us, hold=False)
    timers: list[float] = []

    async def go() -> None:
        loop = asyncio.get_running_loop()
        real_call_later = loop.call_later

        def call_later(delay: float, callback: Callable[..., Any], *args: Any) -> asyncio.TimerHandle:
            timers.append(delay)

            def fire() -> None:
                clock.now += round(delay * 1e9)  # the wait takes exactly that long on the test clock
                callback(*args)

            return real_call_later(0.001, fire)

        loop.call_later = call_later  # type: ignore[method-assign, assignment]
        outputs, queue_ns, _, size = await batcher.infer(x(7))
        assert outputs["y"].tolist() == [[70, 70]] and size == 1
        assert queue_ns == delay_us * 1000  # the whole wait is queue time

    run(go())
    assert timers == [wait_s]
    assert len(model.batches) == 1


def test_a_gone_client_is_asked_only_after_a_millisecond_in_the_queue(clock: Clock) -> None:
    assert batcher_module.GONE_CHECK_AFTER_NS == 1_000_000
    recorder = Recorder()
    batcher, thread, model = make(clock, recorder=recorder)
    old, old2, young, fresh_and_here = Conn(gone=True), Conn(gone=True), Conn(gone=True), Conn(gone=False)

    async def go() -> None:
        first = asyncio.ensure_future(batcher.infer(x(0)))
        await settle()
        clock.now = 10_000_000
        t_old = asyncio.ensure_future(batcher.infer(x(1), old.gone))  # will have waited 1.5 ms
        t_here = asyncio.ensure_future(batcher.infer(x(2), fresh_and_here.gone))
        t_old2 = asyncio.ensure_future(batcher.infer(x(5), old2.gone))
        await settle()
        clock.now = 10_500_001
        t_young = asyncio.ensure_future(batcher.infer(x(3), young.gone))  # just under 1 ms
        t_none = asyncio.ensure_future(batcher.infer(x(4)))  # no way to ask: runs
        await settle()
        thread.release()
        clock.now = 11_500_000  # when the worker looks at the queue: old waited 1.5 ms, young 0.999999
        await first
        await settle()
        thread.release()
        with pytest.raises(ClientGone) as gone:
            await t_old
        assert gone.value.status == 499 and gone.value.message == "client of a queued 'm' request disconnected"
        with pytest.raises(ClientGone):
            await t_old2
        assert (await t_here)[3] == (await t_young)[3] == (await t_none)[3] == 3

    run(go())
    assert (old.asked, old2.asked, fresh_and_here.asked, young.asked) == (1, 1, 1, 0)
    assert [b[:, 0].tolist() for b in model.batches] == [[0], [2, 3, 4]]
    assert batcher.counters.dropped == 2 and recorder.refused == ["client_gone", "client_gone"]


def test_exactly_one_millisecond_is_not_yet_old_enough(clock: Clock) -> None:
    batcher, thread, _ = make(clock)
    conn = Conn(gone=True)

    async def go() -> None:
        first = asyncio.ensure_future(batcher.infer(x(0)))
        await settle()
        clock.now = 5_000_000
        waiting = asyncio.ensure_future(batcher.infer(x(1), conn.gone))
        await settle()
        thread.release()
        clock.now = 6_000_000
        await first
        await settle()
        thread.release()
        assert (await waiting)[3] == 1

    run(go())
    assert conn.asked == 0


def test_close_fails_what_is_queued_with_503_and_stops_the_worker(clock: Clock) -> None:
    batcher, thread, _ = make(clock)

    async def go() -> None:
        first = asyncio.ensure_future(batcher.infer(x(0)))
        await settle()
        queued = [asyncio.ensure_future(batcher.infer(x(v))) for v in (1, 2)]
        cancelled = asyncio.ensure_future(batcher.infer(x(3)))
        await settle()
        cancelled.cancel()
        await settle()
        worker = batcher._worker
        assert worker is not None
        batcher.close()
        assert batcher._worker is None and batcher.depth == 0 and batcher._queued_rows == 0
        for task in queued:
            with pytest.raises(ModelShuttingDown) as info:
                await task
            assert (info.value.status, info.value.field) == (503, "model")
            assert info.value.message == "model 'm' is shutting down"
        await settle()
        assert worker.cancelled()
        thread.release()
        await first

    run(go())


def test_close_of_a_batcher_that_never_queued() -> None:
    batcher, _, _ = make(Clock())
    batcher.close()
    assert batcher._worker is None and batcher.idle


def test_with_a_delay_an_idle_model_waits_for_more_requests() -> None:
    """Real time here: a 60 ms ``max_queue_delay_us`` holds a lone request back (reported as queue time)."""
    batcher, _, model = make(Clock(), rows=8, delay_us=60_000, hold=False)

    async def go() -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        first = asyncio.ensure_future(batcher.infer(x(1)))
        await asyncio.sleep(0.01)
        second = asyncio.ensure_future(batcher.infer(x(2)))
        (_, queue_ns, _, size), (_, _, _, size2) = await asyncio.gather(first, second)
        assert loop.time() - started >= 0.055
        assert (size, size2) == (2, 2) and queue_ns >= 55_000_000

    run(go())
    assert len(model.batches) == 1


def test_with_a_delay_a_full_batch_runs_without_waiting() -> None:
    batcher, _, model = make(Clock(), rows=3, delay_us=30_000_000, hold=False)  # a 30 s delay

    async def go() -> None:
        results = await asyncio.gather(batcher.infer(x(1, 2)), batcher.infer(x(3)))
        assert [r[3] for r in results] == [3, 3]

    run(go())  # well within T: the batch was full, the delay did not matter
    assert len(model.batches) == 1


def _parts(*lengths: int) -> list[Tensors]:
    return [{"lengths": np.array([n]), "tokens": np.full((1, n), n, dtype=np.int64)} for n in lengths]


def test_run_parts_of_one_part_and_of_several(clock: Clock) -> None:
    seen: list[tuple[int, ...]] = []

    def model(inputs: Tensors) -> Tensors:
        seen.append(inputs["tokens"].shape)
        clock.now += 250
        return {"sum": inputs["tokens"].sum(axis=1)}

    batcher = DynamicBatcher("m", BatchPolicy(True, 8, 0, 8, "t"), model, HeldThread(), pads=True)  # type: ignore[arg-type]
    (one,) = batcher.run_parts(_parts(3))
    assert (one.members, one.rows, one.started, one.ended, one.input_ns, one.output_ns) == ([0], 1, 1_000, 1_250, 0, 0)
    assert one.answers[0]["sum"].tolist() == [9]
    # no cost model: one padded run of every part
    (run,) = batcher.run_parts(_parts(2, 5, 1))
    assert seen[-1] == (3, 5) and run.members == [0, 1, 2] and run.rows == 3
    assert (run.started, run.ended, run.input_ns, run.output_ns) == (1_250, 1_500, 0, 0)
    assert [a["sum"].tolist() for a in run.answers] == [[4], [25], [1]]
    # a cost model with free calls: each length its own run, shortest first
    batcher.cost = PaddedCost(0.0, 0.0, 1.0)
    runs = batcher.run_parts([*_parts(2, 5, 2, 1), {"lengths": np.array([5, 5]), "tokens": np.full((2, 5), 5)}])
    assert [r.members for r in runs] == [[3], [0, 2], [1, 4]]
    assert [r.rows for r in runs] == [1, 2, 3]
    assert [[a["sum"].tolist() for a in r.answers] for r in runs] == [[[1]], [[4], [4]], [[25], [25, 25]]]
    assert seen[-3:] == [(1, 1), (2, 2), (3, 5)]


def test_run_parts_without_padding_ignores_the_cost_model(clock: Clock) -> None:
    batcher = DynamicBatcher("m", BatchPolicy(True, 8, 0, 8, "t"), lambda t: {"y": t["x"] * 2}, HeldThread())  # type: ignore[arg-type]
    batcher.cost = PaddedCost(-1e6, 0.0, 1.0)  # a cost model that would give every part its own run
    runs = batcher.run_parts([{"x": np.ones((1, 2))}, {"x": np.ones((2, 2))}])
    assert len(runs) == 1 and runs[0].rows == 3


def test_a_multi_row_request_on_the_fast_path_reports_its_rows(clock: Clock) -> None:
    batcher, _, _ = make(clock, hold=False)

    async def go() -> None:
        outputs, _, _, size = await batcher.infer({"x": np.ones((2, 5))})
        assert size == 2 and outputs["y"].shape == (2, 5)

    run(go())
