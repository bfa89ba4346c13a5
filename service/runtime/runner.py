"""Running a model: one onnxruntime session, the one thread it runs on, and how a request gets there.

:class:`ModelRunner` is the seam between "inputs are ready" and "outputs exist". The data plane
awaits :meth:`ModelRunner.infer` and gets an :class:`InferResult` back; whether the request went
through the dynamic batcher, hopped to the model's thread alone, or ran inline is the runner's
business. The one-shot models and the streaming step models both run through this class, so
both report the same timings and map an onnxruntime failure to the same error.

Why a dedicated single-thread executor per model (not inline, not ``asyncio.to_thread``): the
event loop must never block on a model, so ``session.run`` leaves the loop. One thread per model
serialises that model's runs (with ``intra_op_threads=1`` that is what one core can do anyway),
keeps onnxruntime's per-thread scratch memory warm, gives an honest FIFO ``queue`` time, and does
not compete with Starlette's shared thread pool. The exception is a lone small request on an idle
model, which runs inline because nobody waits on the loop then (:mod:`service.runtime.activity`).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from service.batching.batcher import BatchRecorder, DynamicBatcher
from service.batching.padding import PaddedCost, time_median_us
from service.batching.policy import BatchPolicy
from service.errors import BadRequest
from service.runtime.activity import ACTIVITY
from service.runtime.sessions import SessionConfig, check_io, describe, open_session
from service.runtime.thread import ModelThread
from service.timing import now_ns

log = logging.getLogger("rnn_serve.runtime")

Tensors = dict[str, np.ndarray]
#: ``await gone()`` is True once the request's client has disconnected (the batcher drops it)
ClientGone = Callable[[], Awaitable[bool]]

#: onnxruntime's exceptions for inputs it cannot run (shape mismatches a graph discovers late)
_ORT_INPUT_ERRORS = (
    ort.capi.onnxruntime_pybind11_state.InvalidArgument,
    ort.capi.onnxruntime_pybind11_state.Fail,
    ort.capi.onnxruntime_pybind11_state.RuntimeException,
)


@dataclass(frozen=True, slots=True)
class InferResult:
    """A request's outputs; ``queue_ns`` is all the time it was not running on the model,
    ``inference_ns`` the ``session.run`` it rode in, ``batch_size`` that run's rows."""

    outputs: Tensors
    queue_ns: int
    inference_ns: int
    batch_size: int


def rows_of(inputs: Tensors) -> int:
    return int(next(iter(inputs.values())).shape[0])


def row_elements(inputs: Tensors) -> int:
    """Elements of one row of the largest input: what a recurrent run's cost grows with."""
    return max(math.prod(a.shape[1:]) for a in inputs.values())


class ModelRunner:
    """One session plus the executor that runs it; ``infer`` is awaited by the data plane."""

    def __init__(
        self,
        name: str,
        session: ort.InferenceSession,
        output_names: list[str],
        *,
        policy: BatchPolicy | None = None,
        recorder: BatchRecorder | None = None,
        inline_max_us: int = 0,
        pads: bool = False,
    ) -> None:
        self.name = name
        self.session = session
        self.output_names = output_names
        self._thread = ModelThread(f"ort-{name}")
        self.policy = policy or BatchPolicy.off()
        self._recorder = recorder
        self.batcher: DynamicBatcher | None = None
        if self.policy.enabled:
            self.batcher = DynamicBatcher(name, self.policy, self.run, self._thread, recorder, pads=pads)
        #: inline decision (see :mod:`service.runtime.activity`), measured at warm-up
        self.inline_max_us = inline_max_us
        self.one_row_us: float | None = None
        self._example_elements = 1
        self._hops = 0

    @classmethod
    def open(
        cls,
        name: str,
        path: Path,
        inputs: Mapping[str, str],
        outputs: Mapping[str, str],
        config: SessionConfig,
        *,
        policy: BatchPolicy | None = None,
        recorder: BatchRecorder | None = None,
        inline_max_us: int = 0,
        pads: bool = False,
    ) -> ModelRunner:
        """Open ``path`` and check its inputs/outputs (name → model.json datatype) before anything runs."""
        session = open_session(path, config)
        check_io(session, inputs, outputs, path.name)
        return cls(
            name, session, list(outputs), policy=policy, recorder=recorder, inline_max_us=inline_max_us, pads=pads
        )

    def run(self, inputs: Tensors) -> Tensors:
        """Synchronous ``session.run``; an input onnxruntime cannot run is the client's error (400)."""
        try:
            values = self.session.run(self.output_names, inputs)
        except _ORT_INPUT_ERRORS as exc:
            raise BadRequest(
                f"the model rejected this input: {exc}", field="inputs", rule="tensors the model can run"
            ) from None
        return dict(zip(self.output_names, values, strict=True))

    def _timed_run(self, inputs: Tensors) -> tuple[Tensors, int, int]:
        started = now_ns()
        outputs = self.run(inputs)
        return outputs, started, now_ns()

    async def infer(self, inputs: Tensors, gone: ClientGone | None = None) -> InferResult:
        """Run off the event loop (or inline when alone and small); see :class:`InferResult`."""
        rows = rows_of(inputs)
        if rows == 1 and self._idle() and self._small(inputs):
            await asyncio.sleep(0)  # let requests the loop has already read start (and be counted)
            if self._idle():  # (its size has not changed: the estimate is not made twice)
                outputs, started, ended = self._timed_run(inputs)
                self._record(rows, ended - started)
                return InferResult(outputs, 0, ended - started, rows)
        if self.batcher is not None:
            return InferResult(*await self.batcher.infer(inputs, gone))
        submitted = now_ns()
        self._hops += 1
        try:
            outputs, started, ended = await self._thread.run(self._timed_run, inputs)
        finally:
            self._hops -= 1
        self._record(rows, ended - started)
        return InferResult(outputs, (started - submitted) + (now_ns() - ended), ended - started, rows)

    def estimated_us(self, inputs: Tensors) -> float | None:
        """This request's ``session.run`` time, from the warm-up's one-row run scaled by its size."""
        if self.one_row_us is None:
            return None
        scale = max(1.0, row_elements(inputs) / self._example_elements)
        return self.one_row_us * rows_of(inputs) * scale

    def _idle(self) -> bool:
        """The inline rule's state half: no other request in flight, nothing of this model queued
        or on its thread, and no batching delay to honour."""
        if not ACTIVITY.alone() or self._hops:
            return False
        batcher = self.batcher
        # a batching delay asks requests to wait for company: never skip it
        return batcher is None or (batcher.idle and self.policy.max_queue_delay_us == 0)

    def _small(self, inputs: Tensors) -> bool:
        """The inline rule's size half (for a one-row request): its estimated run is within
        ``inline_max_us``."""
        estimate = self.estimated_us(inputs)
        return estimate is not None and estimate <= self.inline_max_us

    def _record(self, rows: int, infer_ns: int) -> None:
        if self._recorder is not None:
            self._recorder.record_batch(rows, 0, infer_ns, 0)

    def warm_up(self, example: Tensors, runs: int, probe: Callable[[int, int], Tensors] | None = None) -> None:
        """``runs`` one-row runs of ``example`` (their median is the inline estimate's base), one
        full batch when batching (first-run allocations), and, for a batcher that pads rows of
        different lengths, the run-cost model fitted from ``probe(rows, steps)`` inputs."""
        one_row = {k: v[:1] for k, v in example.items()}
        self._example_elements = max(1, row_elements(one_row))
        if runs <= 0:
            return
        self.one_row_us = round(time_median_us(lambda: self.run(one_row), repeats=max(runs, 5)), 1)
        if self.batcher is None:
            return
        self.run({k: np.repeat(v, self.policy.max_batch_rows, axis=0) for k, v in one_row.items()})
        if self.batcher.pads and probe is not None:
            self.batcher.cost = PaddedCost.fit(lambda n, steps: time_median_us(lambda: self.run(probe(n, steps))))
            log.info("%s: padded-run cost model %s", self.name, self.batcher.cost)

    def runtime_info(self) -> dict[str, object]:
        """The onnxruntime configuration in force for this session, plus batching and inline."""
        batching: dict[str, object] = {**self.policy.as_dict()}
        if self.batcher is not None and self.batcher.pads:
            cost = self.batcher.cost
            batching.update(length_aware_runs=cost is not None, run_cost_model_us=cost.as_dict() if cost else None)
        return {
            **describe(self.session),
            "batching": batching,
            "inline_when_idle": {
                "enabled": self.one_row_us is not None and self.one_row_us <= self.inline_max_us,
                "one_row_run_us": self.one_row_us,
                "max_us": self.inline_max_us,
                "rule": "one-row requests whose estimated run (one_row_run_us × their time steps "
                "÷ the warm-up's) is at most max_us",
            },
        }

    def close(self) -> None:
        if self.batcher is not None:
            self.batcher.close()
        self._thread.close()
