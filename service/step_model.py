"""The step model of a package (``model_step.onnx``): one chunk in, outputs + next state out.

Torch-free and web-free on purpose: the exporter's parity check, the service's streaming
sessions, the benchmark and the tests all run chunks through the same :class:`StepModel`, so
"a stream equals a one-shot call" is checked on the code that serves it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import onnxruntime as ort

from service.package import NUMPY_DTYPE, StreamingSpec

Tensors = dict[str, np.ndarray]

_ORT_TYPE = {"FP32": "tensor(float)", "INT64": "tensor(int64)", "INT32": "tensor(int32)"}


class StepModel:
    """An ORT session over ``model_step.onnx`` plus its :class:`StreamingSpec`."""

    def __init__(self, session: ort.InferenceSession, spec: StreamingSpec) -> None:
        self.session = session
        self.spec = spec
        self.output_names = [o.name for o in spec.outputs]
        self.state_outputs = [s.output for s in spec.states]
        self._fetch = self.output_names + self.state_outputs
        self.check_io()

    @classmethod
    def load(cls, path: Path, spec: StreamingSpec, options: ort.SessionOptions | None = None) -> StepModel:
        if options is None:
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        return cls(session, spec)

    def check_io(self) -> None:
        """Raise ValueError if the graph's I/O differs from what ``model.json`` ``streaming`` says."""
        want_in = {t.name: _ORT_TYPE[t.datatype] for t in self.spec.inputs}
        want_in.update({s.input: _ORT_TYPE[s.datatype] for s in self.spec.states})
        want_out = {t.name: _ORT_TYPE[t.datatype] for t in self.spec.outputs}
        want_out.update({s.output: _ORT_TYPE[s.datatype] for s in self.spec.states})
        got_in = {i.name: i.type for i in self.session.get_inputs()}
        got_out = {o.name: o.type for o in self.session.get_outputs()}
        if got_in != want_in or got_out != want_out:
            raise ValueError(f"step model I/O {got_in} → {got_out} differs from model.json {want_in} → {want_out}")

    def zero_state(self, batch: int = 1) -> Tensors:
        """The state before the first chunk: zeros (the step graphs are built so that this is right)."""
        return {s.input: np.zeros([batch if d < 0 else d for d in s.shape], dtype=NUMPY_DTYPE[s.datatype])
                for s in self.spec.states}

    def run(self, inputs: Tensors, state: Tensors) -> tuple[Tensors, Tensors]:
        """One chunk: ``(outputs, next state)``; the next state is keyed by the state *inputs*."""
        values = self.session.run(self._fetch, {**inputs, **state})
        n = len(self.output_names)
        outputs = dict(zip(self.output_names, values[:n], strict=True))
        nxt = {s.input: v for s, v in zip(self.spec.states, values[n:], strict=True)}
        return outputs, nxt

    def run_chunks(self, chunks: Iterable[Tensors], batch: int = 1) -> Tensors:
        """Feed the chunks in order from a zero state; the outputs after the last chunk."""
        state = self.zero_state(batch)
        outputs: Tensors = {}
        for chunk in chunks:
            outputs, state = self.run(chunk, state)
        return outputs


def split_time(x: np.ndarray, sizes: list[int], axis: int = 1) -> list[np.ndarray]:
    """Split ``x`` along its time axis into chunks of ``sizes`` (the last chunk takes the rest)."""
    bounds, at = [], 0
    for size in sizes:
        at += size
        if at >= x.shape[axis]:
            break
        bounds.append(at)
    return np.split(x, bounds, axis=axis)
