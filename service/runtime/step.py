"""The step model of a package (``model_step.onnx``): one chunk + state in, outputs + next state out.

Torch-free and web-free on purpose: the exporter's parity check, the streaming sessions, the
benchmark and the tests all run chunks through the same :class:`StepModel`, on the same
:class:`~service.runtime.runner.ModelRunner` the one-shot models use, so "a stream equals a
one-shot call" is checked on the code that serves it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from service.batching.batcher import BatchRecorder
from service.package import NUMPY_DTYPE, StreamingSpec
from service.runtime.runner import ClientGone, InferResult, ModelRunner, Tensors
from service.runtime.sessions import SessionConfig


class StepModel:
    """A runner over ``model_step.onnx`` plus its :class:`StreamingSpec`."""

    def __init__(self, runner: ModelRunner, spec: StreamingSpec) -> None:
        self.runner = runner
        self.spec = spec
        self.output_names = [o.name for o in spec.outputs]

    @classmethod
    def open(
        cls,
        name: str,
        path: Path,
        spec: StreamingSpec,
        config: SessionConfig | None = None,
        *,
        recorder: BatchRecorder | None = None,
        inline_max_us: int = 0,
    ) -> StepModel:
        """Open ``path`` (checked against ``spec``); its runs never batch: each session is one row."""
        inputs = {t.name: t.datatype for t in spec.inputs} | {s.input: s.datatype for s in spec.states}
        outputs = {t.name: t.datatype for t in spec.outputs} | {s.output: s.datatype for s in spec.states}
        runner = ModelRunner.open(
            f"{name}/step",
            path,
            inputs,
            outputs,
            config or SessionConfig(),
            recorder=recorder,
            inline_max_us=inline_max_us,
        )
        return cls(runner, spec)

    def zero_state(self, batch: int = 1) -> Tensors:
        """The state before the first chunk: zeros (the step graphs are built so that this is right)."""
        return {
            s.input: np.zeros([batch if d < 0 else d for d in s.shape], dtype=NUMPY_DTYPE[s.datatype])
            for s in self.spec.states
        }

    def _split(self, values: Tensors) -> tuple[Tensors, Tensors]:
        """Graph outputs → (outputs, next state keyed by the state *inputs*)."""
        return ({n: values[n] for n in self.output_names}, {s.input: values[s.output] for s in self.spec.states})

    def run(self, inputs: Tensors, state: Tensors) -> tuple[Tensors, Tensors]:
        """One chunk, synchronously: ``(outputs, next state)``."""
        return self._split(self.runner.run({**inputs, **state}))

    async def advance(
        self, inputs: Tensors, state: Tensors, gone: ClientGone | None = None
    ) -> tuple[Tensors, Tensors, InferResult]:
        """One chunk through the runner (off the loop unless alone and small), with its timings."""
        result = await self.runner.infer({**inputs, **state}, gone)
        outputs, nxt = self._split(result.outputs)
        return outputs, nxt, result

    def run_chunks(self, chunks: Iterable[Tensors], batch: int = 1) -> Tensors:
        """Feed the chunks in order from a zero state; the outputs after the last chunk."""
        state = self.zero_state(batch)
        outputs: Tensors = {}
        for chunk in chunks:
            outputs, state = self.run(chunk, state)
        return outputs

    def close(self) -> None:
        self.runner.close()


def split_time(x: np.ndarray, sizes: list[int], axis: int = 1) -> list[np.ndarray]:
    """Split ``x`` along its time axis into chunks of ``sizes`` (the last chunk takes the rest)."""
    bounds, at = [], 0
    for size in sizes:
        at += size
        if at >= x.shape[axis]:
            break
        bounds.append(at)
    return np.split(x, bounds, axis=axis)
