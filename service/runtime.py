"""onnxruntime sessions: options from settings, I/O checked against the package, runs off the loop.

:class:`ModelRunner` is the seam between "inputs are ready" and "outputs exist": routes only call
``await runner.infer(inputs)`` and get ``(outputs, queue_ns, inference_ns)`` back (an
:class:`InferResult`, which also says which batch size the request rode in). With batching on,
``infer`` goes through the model's :class:`service.batching.DynamicBatcher`; routes do not change.

Why a dedicated single-thread executor per model (not inline, not ``asyncio.to_thread``):
the event loop must never block on a model, so ``session.run`` leaves the loop. One thread per
model serialises that model's runs (with ``intra_op_threads=1`` that is what one core can do
anyway), keeps ORT's per-thread scratch memory warm, gives an honest FIFO ``queue`` time, and
does not compete with Starlette's shared anyio thread pool. ``service/bench_overhead.py`` measures
what the hop costs (see the README). The one exception is a lone one-row request on an idle,
fast model, which runs inline because nobody waits on the loop then (:mod:`service.inline`).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort

from service.batch_policy import BatchPolicy
from service.batching import BatchRecorder, DynamicBatcher
from service.errors import BadRequest
from service.inline import ACTIVITY
from service.padding import PaddedCost, time_median_us
from service.package import NUMPY_DTYPE, ModelPackage
from service.settings import Settings
from service.timing import now_ns

log = logging.getLogger("rnn_serve.runtime")

_OPT_LEVEL = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
_ORT_TYPE = {"FP32": "tensor(float)", "INT64": "tensor(int64)", "INT32": "tensor(int32)"}

Tensors = dict[str, np.ndarray]


class InferResult(tuple):  # type: ignore[type-arg]
    """``(outputs, queue_ns, inference_ns)`` (the seam's shape) plus ``batch_size``: the rows of
    the ``session.run`` this request rode in (its own rows when not batched)."""

    batch_size: int

    def __new__(cls, outputs: Tensors, queue_ns: int, inference_ns: int, batch_size: int) -> InferResult:
        self = super().__new__(cls, (outputs, queue_ns, inference_ns))
        self.batch_size = batch_size
        return self


def session_options(settings: Settings) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = settings.intra_op_threads
    opts.inter_op_num_threads = settings.inter_op_threads
    opts.graph_optimization_level = _OPT_LEVEL[settings.graph_optimization_level]
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    return opts


def check_io(session: ort.InferenceSession, package: ModelPackage) -> None:
    """Raise ValueError if the ONNX graph's inputs/outputs differ from what model.json promises."""
    for kind, actual, declared in (
        ("input", session.get_inputs(), package.inputs),
        ("output", session.get_outputs(), package.outputs),
    ):
        got = {a.name: a.type for a in actual}
        want = {d.name: _ORT_TYPE[d.datatype] for d in declared}
        if got != want:
            raise ValueError(f"model.onnx {kind}s {got} do not match model.json {want}")


class ModelRunner:
    """One ORT session plus the executor that runs it; ``infer`` is awaited by the routes."""

    def __init__(
        self, name: str, session: ort.InferenceSession, package: ModelPackage,
        policy: BatchPolicy | None = None, recorder: BatchRecorder | None = None, inline_max_us: int = 0,
    ) -> None:
        self.name = name
        self.session = session
        self.package = package
        self.output_names = [o.name for o in package.outputs]
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"ort-{name}")
        self.policy = policy or BatchPolicy(False, 1, 0, 0, "not configured")
        self._recorder = recorder
        self.batcher: DynamicBatcher | None = None
        #: see :mod:`service.inline`; ``inline`` is decided at warm-up from the measured run time
        self.inline_max_us = inline_max_us
        self.inline = False
        self.one_row_us: float | None = None
        self._hops = 0
        if self.policy.enabled:
            # Only sentiment has a dynamic non-batch axis; its ``lengths`` make right-padding exact.
            self.batcher = DynamicBatcher(name, self.policy, self.run, self._executor, recorder,
                                          pad_axes=package.task == "sentiment")

    @classmethod
    def load(
        cls, name: str, onnx_path: Path, package: ModelPackage, settings: Settings,
        recorder: BatchRecorder | None = None,
    ) -> ModelRunner:
        session = ort.InferenceSession(
            str(onnx_path), sess_options=session_options(settings), providers=["CPUExecutionProvider"]
        )
        check_io(session, package)
        return cls(name, session, package, BatchPolicy.resolve(settings, package.batching), recorder,
                   settings.inline_max_us)

    def run(self, inputs: Tensors) -> Tensors:
        """Synchronous ``session.run`` (warm-up, benchmarks); ORT input errors → 400."""
        try:
            values = self.session.run(self.output_names, inputs)
        except (ort.capi.onnxruntime_pybind11_state.InvalidArgument,
                ort.capi.onnxruntime_pybind11_state.Fail,
                ort.capi.onnxruntime_pybind11_state.RuntimeException) as exc:
            raise BadRequest(f"the model rejected this input: {exc}", field="inputs",
                             rule="tensors the model can run") from None
        return dict(zip(self.output_names, values, strict=True))

    def _timed_run(self, inputs: Tensors) -> tuple[Tensors, int, int]:
        started = now_ns()
        outputs = self.run(inputs)
        return outputs, started, now_ns()

    async def infer(self, inputs: Tensors) -> InferResult:
        """Run off the event loop; return ``(outputs, queue_ns, inference_ns)`` (+ ``batch_size``).

        ``queue_ns`` is all the time this request was not running on the model: waiting in the
        batching queue or for the model's thread, plus the hand-back until the event loop resumes
        this coroutine. ``inference_ns`` is the ``session.run`` this request rode in. A lone
        one-row request on an idle model runs inline instead (:mod:`service.inline`).
        """
        rows = next(iter(inputs.values())).shape[0]
        if self._may_run_inline(rows):
            await asyncio.sleep(0)  # let requests the loop has already read start (and be counted)
            if self._may_run_inline(rows):
                outputs, started, ended = self._timed_run(inputs)
                self._record(rows, ended - started)
                return InferResult(outputs, 0, ended - started, rows)
        if self.batcher is not None:
            return InferResult(*await self.batcher.infer(inputs))
        loop = asyncio.get_running_loop()
        submitted = now_ns()
        self._hops += 1
        try:
            outputs, started, ended = await loop.run_in_executor(self._executor, self._timed_run, inputs)
        finally:
            self._hops -= 1
        self._record(rows, ended - started)
        return InferResult(outputs, (started - submitted) + (now_ns() - ended), ended - started, rows)

    def _may_run_inline(self, rows: int) -> bool:
        """One row, inline allowed for this model, no other request in flight, and nothing of
        this model's queued or on its thread."""
        return (self.inline and rows == 1 and ACTIVITY.alone() and self._hops == 0
                and (self.batcher is None or self.batcher.idle))

    def _record(self, rows: int, infer_ns: int) -> None:
        if self._recorder is not None:
            self._recorder.record_batch(rows, 0, infer_ns, 0)

    def warm_up(self, inputs: Tensors, runs: int) -> None:
        """``runs`` single-request runs (their median decides :attr:`inline`), plus one full batch
        when batching (first-run allocations); a batcher that pads variable-length rows also gets
        its run-cost model fitted here."""
        one_row = {k: v[:1] for k, v in inputs.items()}
        if runs > 0:
            self.one_row_us = round(time_median_us(lambda: self.run(one_row), repeats=max(runs, 5)), 1)
            # a batching delay asks requests to wait for company: never skip it
            waits = self.batcher is not None and self.policy.max_queue_delay_us > 0
            self.inline = self.one_row_us <= self.inline_max_us and not waits
        for _ in range(runs):
            self.run(inputs)
        if self.batcher is None or runs <= 0:
            return
        rows = next(iter(inputs.values())).shape[0]
        self.run({k: np.repeat(v, max(1, self.policy.max_batch_size // rows), axis=0) for k, v in inputs.items()})
        if self.batcher.pads:
            self.batcher.cost = PaddedCost.fit(
                lambda n, steps: time_median_us(lambda: self.run(zeros_for(self.package, n, steps))))
            log.info("%s: padded-run cost model %s", self.name, self.batcher.cost)

    def runtime_info(self) -> dict[str, object]:
        """The onnxruntime configuration actually in force for this session, plus batching."""
        opts = self.session.get_session_options()
        level = {v: k for k, v in _OPT_LEVEL.items()}.get(opts.graph_optimization_level,
                                                          str(opts.graph_optimization_level))
        return {
            "onnxruntime_version": ort.__version__,
            "execution_providers": self.session.get_providers(),
            "intra_op_threads": opts.intra_op_num_threads,
            "inter_op_threads": opts.inter_op_num_threads,
            "threads_note": "0 = onnxruntime's default (one per physical core)",
            "execution_mode": "sequential" if opts.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL else "parallel",
            "graph_optimization_level": level,
            "batching": self.policy.as_dict() | self._padding_info(),
            "inline_when_idle": {"enabled": self.inline, "one_row_run_us": self.one_row_us,
                                 "max_us": self.inline_max_us},
        }

    def _padding_info(self) -> dict[str, object]:
        if self.batcher is None or not self.batcher.pads:
            return {}
        cost = self.batcher.cost
        return {"length_aware_runs": cost is not None, "run_cost_model_us": cost.as_dict() if cost else None}

    def close(self) -> None:
        if self.batcher is not None:
            self.batcher.close()
        self._executor.shutdown(wait=True)


def zeros_for(package: ModelPackage, batch: int = 1, dynamic: int = 8) -> Tensors:
    """A valid all-zeros input (dynamic axes = ``dynamic``) for warm-up."""
    out: Tensors = {}
    for spec in package.inputs:
        shape = [batch] + [d if d >= 0 else dynamic for d in spec.shape[1:]]
        out[spec.name] = np.zeros(shape, dtype=NUMPY_DTYPE[spec.datatype])
    if package.task == "sentiment":
        out["tokens"][:] = 1
        out["lengths"][:] = out["tokens"].shape[1]
    return out
