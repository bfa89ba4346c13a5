"""onnxruntime sessions: options from settings, I/O checked against the package, runs off the loop.

:class:`ModelRunner` is the seam between "inputs are ready" and "outputs exist": routes only call
``await runner.infer(inputs)`` and get ``(outputs, queue_ns, inference_ns)`` back. A dynamic
batcher can later replace the executor behind ``infer`` without touching a route.

Why a dedicated single-thread executor per model (not inline, not ``asyncio.to_thread``):
the event loop must never block on a model, so ``session.run`` leaves the loop. One thread per
model serialises that model's runs (with ``intra_op_threads=1`` that is what one core can do
anyway), keeps ORT's per-thread scratch memory warm, gives an honest FIFO ``queue`` time, and
does not compete with Starlette's shared anyio thread pool. ``service/bench_overhead.py`` measures
what the hop costs (see the README).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort

from service.errors import BadRequest
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

    def __init__(self, name: str, session: ort.InferenceSession, package: ModelPackage) -> None:
        self.name = name
        self.session = session
        self.output_names = [o.name for o in package.outputs]
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"ort-{name}")

    @classmethod
    def load(cls, name: str, onnx_path: Path, package: ModelPackage, settings: Settings) -> ModelRunner:
        session = ort.InferenceSession(
            str(onnx_path), sess_options=session_options(settings), providers=["CPUExecutionProvider"]
        )
        check_io(session, package)
        return cls(name, session, package)

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

    async def infer(self, inputs: Tensors) -> tuple[Tensors, int, int]:
        """Run off the event loop; return ``(outputs, queue_ns, inference_ns)``.

        ``queue_ns`` is all the time this request was not running on the model: waiting for the
        model's thread, plus the hand-back until the event loop resumes this coroutine.
        """
        loop = asyncio.get_running_loop()
        submitted = now_ns()
        outputs, started, ended = await loop.run_in_executor(self._executor, self._timed_run, inputs)
        return outputs, (started - submitted) + (now_ns() - ended), ended - started

    def warm_up(self, inputs: Tensors, runs: int) -> None:
        for _ in range(runs):
            self.run(inputs)

    def close(self) -> None:
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
