"""The step variant of each net: explicit recurrent state in and out, for streaming sessions.

A step module runs one chunk of a sequence from a given state and returns the task output *as
if the sequence ended here* plus the next state. Exported with the legacy exporter
(``dynamo=False``), ``nn.LSTM``/``nn.GRU`` given ``(h0, c0)``/``h0`` become the native ONNX
operators with ``initial_h``/``initial_c`` wired to graph inputs and ``Y_h``/``Y_c`` exposed.
Every state starts at zeros, so the service needs no per-task initialisation:

* sentiment: ``h`` (+ ``c``) only; logits from the top layer's ``h`` (as the one-shot net).
* keywords: the one-shot net averages the RNN outputs over time, so the step model also carries
  their running sum ``y_sum`` [B, H] and the step count ``steps`` [B, 1].
* forecast: the net levels every row by the window's first row; the step model carries that
  ``level`` [B, 1, V] and a ``started`` flag [B, 1, 1], latching the first chunk's first row.

Parity (checked before a package is written): the step model fed the test inputs in uneven
chunks equals ``model.onnx`` on the whole sequences within :data:`STEP_TOL`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from export.verify import ParityError
from service.package import StateSpec, StreamingSpec, TensorSpec, sha256_file, streaming_spec
from service.runtime.sessions import open_session
from service.runtime.step import StepModel, split_time
from service.tasks import TASKS

STEP_FILE = "model_step.onnx"
STEP_TOL = 1e-5
CHUNK_SIZES = [1, 3, 7, 2, 30]  # uneven on purpose, incl. single steps; the last chunk takes the rest


class StepNet(nn.Module):
    """Wraps a trained task net; ``forward(x, *aux_state, h[, c])`` → ``(output, *aux_next, h_n[, c_n])``."""

    def __init__(self, net: nn.Module, task: str, cell: str) -> None:
        super().__init__()
        # Any: the task nets' submodules (rnn, embed, head) are reached by name, which torch's
        # stubs type as ``Tensor | Module``.
        self.net: Any = net
        self.task, self.lstm = task, cell == "lstm"

    def _rnn(self, x: torch.Tensor, rec: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        y, state = self.net.rnn(x, (rec[0], rec[1]) if self.lstm else rec[0])
        return y, tuple(state) if self.lstm else (state,)

    def forward(self, x: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        net = self.net
        if self.task == "sentiment":
            _, rec = self._rnn(net.embed(x), states)
            return (net.head(rec[0][-1]), *rec)
        if self.task == "keywords":
            y_sum, steps, *rec_in = states
            y, rec = self._rnn(x, tuple(rec_in))
            y_sum = y_sum + y.sum(dim=1)
            steps = steps + torch.ones_like(y[:, :, :1]).sum(dim=1)
            return (net.head(y_sum / steps), y_sum, steps, *rec)
        level, started, *rec_in = states
        level = level * started + x[:, :1, :] * (1 - started)
        _, rec = self._rnn(x - level, tuple(rec_in))
        forecast = x[:, -1:, net.target_col] + net.head(rec[0][-1])
        return (forecast, level, torch.ones_like(started), *rec)


def step_io(
    task: str, cell: str, layers: int, hidden: int, n_vars: int = 7
) -> tuple[list[TensorSpec], list[TensorSpec], list[StateSpec]]:
    """The step graph's data inputs, outputs and states (aux states first, then h, c)."""
    rec = [StateSpec(input="h_in", output="h_out", shape=[layers, -1, hidden])]
    if cell == "lstm":
        rec.append(StateSpec(input="c_in", output="c_out", shape=[layers, -1, hidden]))
    if task == "sentiment":
        return (
            [TensorSpec(name="tokens", datatype="INT64", shape=[-1, -1])],
            [TensorSpec(name="logits", datatype="FP32", shape=[-1, 2])],
            rec,
        )
    if task == "keywords":
        aux = [
            StateSpec(input="y_sum_in", output="y_sum_out", shape=[-1, hidden], recurrent=False),
            StateSpec(input="steps_in", output="steps_out", shape=[-1, 1], recurrent=False),
        ]
        return (
            [TensorSpec(name="features", datatype="FP32", shape=[-1, -1, 40])],
            [TensorSpec(name="logits", datatype="FP32", shape=[-1, 10])],
            aux + rec,
        )
    aux = [
        StateSpec(input="level_in", output="level_out", shape=[-1, 1, n_vars], recurrent=False),
        StateSpec(input="started_in", output="started_out", shape=[-1, 1, 1], recurrent=False),
    ]
    return (
        [TensorSpec(name="history", datatype="FP32", shape=[-1, -1, n_vars])],
        [TensorSpec(name="forecast", datatype="FP32", shape=[-1, 96])],
        aux + rec,
    )


def _batch_axis(spec: StateSpec) -> int:
    return spec.shape.index(-1)


def export_step(net: nn.Module, task: str, cell: str, example: torch.Tensor, path: Path) -> StreamingSpec:
    """Export the step graph of ``net`` to ``path``; returns its spec (sha256 filled, parity not yet)."""
    rnn: Any = net.rnn
    n_vars = example.shape[2] if example.dim() == 3 else 7
    ins, outs, states = step_io(task, cell, rnn.num_layers, rnn.hidden_size, n_vars)
    batch = example.shape[0]
    zeros = tuple(torch.zeros([batch if d < 0 else d for d in s.shape]) for s in states)
    axes: dict[str, dict[int, str]] = {ins[0].name: {0: "batch", 1: "time"}, outs[0].name: {0: "batch"}}
    for s in states:
        axes[s.input] = axes[s.output] = {_batch_axis(s): "batch"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation/tracer warnings
        torch.onnx.export(
            StepNet(net, task, cell).eval(),
            (example, *zeros),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=[ins[0].name, *[s.input for s in states]],
            output_names=[outs[0].name, *[s.output for s in states]],
            dynamic_axes=axes,
        )
    return streaming_spec(ins, outs, states, sha256=sha256_file(path), file=STEP_FILE)


def check_step_parity(
    onnx_path: Path, step_path: Path, spec: StreamingSpec, task: str, xs: Any, tol: float = STEP_TOL
) -> float:
    """Max |stream − one-shot| over ``xs`` (each sequence alone, fed in :data:`CHUNK_SIZES` chunks)."""
    full, step = open_session(onnx_path), StepModel.open("parity", step_path, spec)
    name, out = spec.inputs[0].name, spec.outputs[0].name
    diff = 0.0
    for example in xs:
        x = np.asarray(example)[None]
        expected = full.run([out], TASKS[task].feeds(x))[0]
        got = step.run_chunks([{name: c} for c in split_time(x, CHUNK_SIZES)])[out]
        diff = max(diff, float(np.max(np.abs(got - expected))))
    if not diff <= tol:
        raise ParityError(f"{step_path}: stream vs one-shot max abs diff {diff:.3g} > {tol:g}")
    return diff


def build_step(
    net: nn.Module, task: str, cell: str, example: torch.Tensor, onnx_path: Path, step_path: Path, probe: Any
) -> StreamingSpec:
    """Export + verify; the spec records the parity figure."""
    spec = export_step(net, task, cell, example, step_path)
    diff = check_step_parity(onnx_path, step_path, spec, task, probe)
    return spec.model_copy(update={"parity_max_abs_diff": diff})
