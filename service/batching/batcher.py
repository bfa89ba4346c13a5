"""Dynamic batching: concurrent requests for one model share one ``session.run``.

Why: a recurrent model's cost per step is a few small matrix products, so one call with 8 rows
costs far less than 8 calls (``python -m benchmarks.bench_batcher`` measures the gain in-process).
Why it is correct for these RNNs (where Triton's dynamic batcher is not): every row is an
independent sequence; sentiment rows of different lengths are right-padded and the graph reads
each row at its own last step (``lengths`` → native ``sequence_lens``), so a batched answer equals
the unbatched one; keywords and forecast rows have fixed shapes.

How: requests wait in one bounded FIFO per model. A single worker coroutine takes the oldest
requests (whole requests only: a multi-row request rides as a unit) up to ``max_batch_rows`` rows,
merges them, runs them on the model's one executor thread, and hands each request its own rows
(a request that finds the model idle while it is the only one in flight runs at once instead).
Variable-length rows are first sorted into runs of similar length when the model has a fitted
cost model (:mod:`service.batching.padding`), so padding never makes a batch slower than no batching.
While a batch runs, new requests queue up, so batches grow with load by themselves; with
``max_queue_delay_us`` > 0 an idle model also waits that long for a batch to fill (Triton's
``max_queue_delay_microseconds``). A full queue is refused at once (503 + Retry-After), and a
request whose client has gone, or whose handler was cancelled, is dropped before it is run.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from service.batching.padding import PaddedCost, merge, plan, split
from service.batching.policy import BatchPolicy
from service.errors import ClientGone, ModelNotReady, Overloaded
from service.runtime.activity import ACTIVITY
from service.runtime.thread import ModelThread
from service.timing import now_ns

log = logging.getLogger("rnn_serve.batching")

Tensors = dict[str, np.ndarray]


class QueueFull(Overloaded):
    """The model's batching queue is full: refuse now rather than buffer without bound."""

    def __init__(self, model: str, size: int) -> None:
        super().__init__(
            f"model {model!r} is overloaded: {size} requests already queued; retry later",
            field="model",
            rule=f"at most {size} queued requests (max_queue_size)",
        )


#: a queued request is checked for a gone client only after waiting this long
GONE_CHECK_AFTER_NS = 1_000_000


class ModelShuttingDown(ModelNotReady):
    """The server is stopping: requests still queued are answered 503 rather than dropped."""


class BatchRecorder(Protocol):
    """Where runs, refusals and the queue's depth are counted (the model's statistics, which add
    up across worker processes: ``/metrics`` reads them from there, not from this object)."""

    def record_batch(self, size: int, input_ns: int, infer_ns: int, output_ns: int) -> None: ...
    def record_refused(self, reason: str) -> None: ...
    def record_depth(self, depth: int) -> None: ...


@dataclass(eq=False)
class _Pending:
    inputs: Tensors
    rows: int
    future: asyncio.Future[tuple[Tensors, int, int, int]]
    enqueued_ns: int
    gone: Callable[[], Awaitable[bool]] | None = None


@dataclass
class _Run:
    """One ``session.run`` of a batch: which parts rode in it (indices), their answers in that
    order, its rows, its start/end, and the merge/split time around it."""

    members: list[int]
    answers: list[Tensors]
    rows: int
    started: int
    ended: int
    input_ns: int
    output_ns: int


@dataclass
class _Counters:
    dropped: int = 0
    rejected: int = 0
    batches: dict[int, int] = field(default_factory=dict)


class DynamicBatcher:
    """One model's queue and the coroutine that turns it into batched runs.

    ``run`` is the model's synchronous ``session.run`` wrapper; ``executor`` its one thread.
    ``infer`` returns ``(outputs, queue_ns, inference_ns, batch rows)``; the runner wraps it.
    """

    def __init__(
        self,
        name: str,
        policy: BatchPolicy,
        run: Callable[[Tensors], Tensors],
        thread: ModelThread,
        recorder: BatchRecorder | None = None,
        pads: bool = False,
    ) -> None:
        self.name = name
        self.policy = policy
        self._run = run
        self._thread = thread
        self._recorder = recorder
        #: rows of different lengths are right-padded (sentiment), so runs can be length-aware
        self.pads = pads
        self._queue: deque[_Pending] = deque()
        self._queued_rows = 0
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        #: a batch (or a lone request on the fast path) is on the model's thread now
        self._busy = False
        self.counters = _Counters()
        #: padded-run cost model (fitted at warm-up); None = one run per batch, however padded
        self.cost: PaddedCost | None = None

    @property
    def idle(self) -> bool:
        """No batch on the model's thread and nothing queued."""
        return not self._busy and not self._queue

    @property
    def depth(self) -> int:
        """Requests waiting (not counting the batch being run)."""
        return len(self._queue)

    async def infer(
        self, inputs: Tensors, gone: Callable[[], Awaitable[bool]] | None = None
    ) -> tuple[Tensors, int, int, int]:
        """``(outputs, queue_ns, inference_ns, batch rows)`` once this request's batch has run;
        ``gone()`` tells whether the client is still there (a request whose client left is dropped)."""
        if len(self._queue) >= self.policy.max_queue_size:
            self.counters.rejected += 1
            if self._recorder is not None:
                self._recorder.record_refused("queue_full")
            raise QueueFull(self.name, self.policy.max_queue_size)
        loop = asyncio.get_running_loop()
        rows = next(iter(inputs.values())).shape[0]
        if not self._busy and not self._queue and self.policy.max_queue_delay_us == 0 and ACTIVITY.alone():
            return await self._run_alone(inputs, rows)
        item = _Pending(inputs, rows, loop.create_future(), now_ns(), gone)
        self._queue.append(item)
        self._queued_rows += rows
        if self._recorder is not None:
            self._recorder.record_depth(len(self._queue))
        if self._worker is None:
            self._worker = loop.create_task(self._work(), name=f"batcher-{self.name}")
        self._wake.set()
        outputs, started, ended, size = await item.future
        return outputs, (started - item.enqueued_ns) + (now_ns() - ended), ended - started, size

    async def _run_alone(self, inputs: Tensors, rows: int) -> tuple[Tensors, int, int, int]:
        """Fast path for an idle model with nothing queued while this is the only request in flight
        in the process: no worker hand-off (two fewer loop iterations at concurrency 1); requests
        arriving meanwhile queue up for the worker.

        Only when alone (:data:`~service.runtime.activity.ACTIVITY`): when a batch's answers come
        back, its members' handlers resume in one loop iteration and their next requests reach an
        idle model one after another; the first used to take this path and run by itself, so
        under steady load every batch of ``N`` was followed by a run of one (``N`` + 1 rows cost
        two ``session.run``). Queued instead, it shares the worker's next run with the others.
        """
        self._busy = True
        submitted = now_ns()
        try:
            (run,) = await self._thread.run(self.run_parts, [inputs])
        finally:
            self._busy = False
            if self._queue:
                self._wake.set()
        self._count(run)
        return run.answers[0], (run.started - submitted) + (now_ns() - run.ended), run.ended - run.started, rows

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue or self._busy:
                self._wake.clear()
                await self._wake.wait()
                continue
            if self.policy.max_queue_delay_us > 0:
                await self._fill(loop)
            batch = await self._live(self._take())
            if batch:
                self._busy = True
                try:
                    await self._execute(batch)
                finally:
                    self._busy = False

    async def _fill(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wait until the batch is full or the oldest request has waited ``max_queue_delay_us``."""
        deadline = self._queue[0].enqueued_ns + self.policy.max_queue_delay_us * 1000
        while self._queue and self._queued_rows < self.policy.max_batch_rows:
            remaining = (deadline - now_ns()) / 1e9
            if remaining <= 0:
                return
            self._wake.clear()
            timer = loop.call_later(remaining, self._wake.set)
            try:
                await self._wake.wait()
            finally:
                timer.cancel()

    def _take(self) -> list[_Pending]:
        """The oldest pending requests, whole, up to ``max_batch_rows`` rows (a bigger one rides alone)."""
        batch: list[_Pending] = []
        rows = 0
        while self._queue:
            item = self._queue[0]
            if item.future.done():  # its handler was cancelled
                self._queue.popleft()
                self._queued_rows -= item.rows
                self._dropped()
                continue
            if batch and rows + item.rows > self.policy.max_batch_rows:
                break
            self._queue.popleft()
            self._queued_rows -= item.rows
            batch.append(item)
            rows += item.rows
        if self._recorder is not None:
            self._recorder.record_depth(len(self._queue))
        return batch

    def _dropped(self) -> None:
        self.counters.dropped += 1
        if self._recorder is not None:
            self._recorder.record_refused("client_gone")

    async def _live(self, batch: list[_Pending]) -> list[_Pending]:
        """The members whose client is still connected; the others fail with 499 unrun.

        Only members that waited longer than :data:`GONE_CHECK_AFTER_NS` are asked: a client that
        left within a millisecond of sending is rare, and asking costs each request a few µs.
        """
        live = []
        checked_before = now_ns() - GONE_CHECK_AFTER_NS
        for item in batch:
            if item.gone is not None and item.enqueued_ns < checked_before and await item.gone():
                self._dropped()
                if not item.future.done():
                    item.future.set_exception(ClientGone(f"client of a queued {self.name!r} request disconnected"))
                continue
            live.append(item)
        return live

    def run_parts(self, parts: list[Tensors]) -> list[_Run]:
        """Merge, run, split, on the calling thread (the model's thread when serving); with a
        fitted :attr:`cost` and padding, the parts first go into runs of similar length
        (:mod:`service.batching.padding`). Public so benchmarks can time it without the event loop."""
        if len(parts) == 1:
            started = now_ns()
            outputs = self._run(parts[0])
            return [_Run([0], [outputs], next(iter(parts[0].values())).shape[0], started, now_ns(), 0, 0)]
        groups = [list(range(len(parts)))]
        if self.pads and self.cost is not None:
            lengths = [max(math.prod(a.shape[1:]) for a in p.values()) for p in parts]
            groups = plan(lengths, [next(iter(p.values())).shape[0] for p in parts], self.cost)
        runs = []
        for members in groups:
            t0 = now_ns()
            merged, offsets = merge([parts[i] for i in members], self.pads)
            started = now_ns()
            outputs = self._run(merged)
            ended = now_ns()
            answers = split(outputs, offsets)
            runs.append(_Run(members, answers, offsets[-1], started, ended, started - t0, now_ns() - ended))
        return runs

    async def _execute(self, batch: list[_Pending]) -> None:
        try:
            runs = await self._thread.run(self.run_parts, [p.inputs for p in batch])
        except Exception as exc:  # the whole batch failed: every member gets the error
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(exc)
            return
        for run in runs:
            for i, answer in zip(run.members, run.answers, strict=True):
                if not batch[i].future.done():
                    batch[i].future.set_result((answer, run.started, run.ended, run.rows))
            self._count(run)

    def _count(self, run: _Run) -> None:
        self.counters.batches[run.rows] = self.counters.batches.get(run.rows, 0) + 1
        if self._recorder is not None:
            self._recorder.record_batch(run.rows, run.input_ns, run.ended - run.started, run.output_ns)

    def close(self) -> None:
        """Stop the worker; requests still queued fail with 503 (the server is shutting down)."""
        if self._worker is not None:
            self._worker.cancel()
            self._worker = None
        while self._queue:
            item = self._queue.popleft()
            if not item.future.done():
                item.future.set_exception(ModelShuttingDown(f"model {self.name!r} is shutting down", field="model"))
        self._queued_rows = 0
        if self._recorder is not None:
            self._recorder.record_depth(0)
