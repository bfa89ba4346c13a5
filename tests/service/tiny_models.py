"""Six tiny but valid model packages, built with ``onnx.helper`` (no torch), for fast tests.

The service, load-test and container tests need a model repository that follows the tensor
contract exactly (names, dtypes, native ONNX LSTM/GRU nodes, ``sequence_lens`` for sentiment)
without waiting for training. Weights are random (seeded), hidden size 8, so every package is a
few KiB and a ``session.run`` takes microseconds; the answers are meaningless but deterministic.

Usage::

    from tests.service.tiny_models import build_tiny_repository
    repo = build_tiny_repository(tmp_path / "models")   # → tmp_path / "models"
"""

from __future__ import annotations

from typing import Any

import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from export.data import DIGITS, ETT_VARIABLES
from service.package import (
    ForecastPreprocessing,
    KeywordsPreprocessing,
    ModelPackage,
    SentimentPreprocessing,
    StateSpec,
    StreamingSpec,
    TensorSpec,
    sha256_file,
    streaming_spec,
    write_package,
)
from service.preprocess.text import Vocabulary

TASKS = ("sentiment", "keywords", "forecast")
CELLS = ("lstm", "gru")
MODEL_NAMES = tuple(f"{task}-{cell}" for task in TASKS for cell in CELLS)

HIDDEN = 8
EMBED = 8
#: A small vocabulary that covers the words the tests and README examples send.
WORDS = (
    "the a an and or but not n't is was it this that movie film story acting plot "
    "good great wonderful love loved best fun brilliant bad terrible awful boring worst hate "
    "hated dull . , ! ? 's does do"
).split()
LABELS_SENTIMENT = ["negative", "positive"]
LABELS_KEYWORDS = DIGITS
LOOKBACK = 96
HORIZON = 96


def _rnn_nodes(
    cell: str,
    x_name: str,
    input_size: int,
    rng: np.random.Generator,
    seq_lens: str = "",
    step: bool = False,
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto], str]:
    """Batch-first ``x`` → [T, B, in] → native LSTM/GRU → last hidden state ``[B, HIDDEN]``.

    ORT's RNN kernels only support ``layout=0`` (time-major), hence the transpose. ``step``: the
    streaming variant, with ``h_in``(/``c_in``) wired to ``initial_h``(/``initial_c``) and
    ``Y_h``(/``Y_c``) exposed as ``h_out``(/``c_out``); same weights for the same seed.
    """
    gates = 4 if cell == "lstm" else 3
    scale = 1.0 / np.sqrt(HIDDEN)
    inits = [
        numpy_helper.from_array(
            rng.uniform(-scale, scale, (1, gates * HIDDEN, input_size)).astype(np.float32), "rnn_W"
        ),
        numpy_helper.from_array(rng.uniform(-scale, scale, (1, gates * HIDDEN, HIDDEN)).astype(np.float32), "rnn_R"),
        numpy_helper.from_array(rng.uniform(-scale, scale, (1, 2 * gates * HIDDEN)).astype(np.float32), "rnn_B"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "squeeze_axes"),
    ]
    attrs: dict[str, Any] = {"hidden_size": HIDDEN}
    if cell == "gru":
        attrs["linear_before_reset"] = 1
    rnn_in = ["x_tbf", "rnn_W", "rnn_R", "rnn_B", seq_lens]
    rnn_out = ["", "y_h"]
    if step:
        rnn_in += ["h_in", "c_in"] if cell == "lstm" else ["h_in"]
        rnn_out = ["", "h_out", "c_out"] if cell == "lstm" else ["", "h_out"]
    nodes = [
        helper.make_node("Transpose", [x_name], ["x_tbf"], perm=[1, 0, 2]),
        helper.make_node("LSTM" if cell == "lstm" else "GRU", rnn_in, rnn_out, **attrs),
        helper.make_node("Squeeze", [rnn_out[1], "squeeze_axes"], ["h_last"]),
    ]
    return nodes, inits, "h_last"


def _head(h: str, n_out: int, out_name: str, rng: np.random.Generator) -> tuple[onnx.NodeProto, list[Any]]:
    weights = numpy_helper.from_array(rng.normal(0, 0.5, (HIDDEN, n_out)).astype(np.float32), "head_W")
    bias = numpy_helper.from_array(rng.normal(0, 0.1, (n_out,)).astype(np.float32), "head_b")
    return helper.make_node("Gemm", [h, "head_W", "head_b"], [out_name]), [weights, bias]


def _finish(name: str, nodes: list[Any], inits: list[Any], inputs: list[Any], outputs: list[Any], path: Path) -> None:
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tiny_models")
    model.ir_version = 10
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _state_io(cell: str) -> tuple[list[Any], list[Any]]:
    """Graph inputs/outputs of the step variant's states: ``[1, batch, HIDDEN]`` each."""
    names = ["h", "c"] if cell == "lstm" else ["h"]
    ins = [helper.make_tensor_value_info(f"{n}_in", TensorProto.FLOAT, [1, "batch", HIDDEN]) for n in names]
    outs = [helper.make_tensor_value_info(f"{n}_out", TensorProto.FLOAT, [1, "batch", HIDDEN]) for n in names]
    return ins, outs


def tiny_onnx(
    task: str, cell: str, path: Path, seed: int = 0, vocab_size: int = len(WORDS) + 2, step: bool = False
) -> None:
    """Write one tiny ONNX model for ``task``/``cell`` following the tensor contract.

    ``step=True`` writes its streaming variant instead (same weights for the same seed; no
    ``lengths`` input; states in/out, see :func:`tiny_streaming`).
    """
    rng = np.random.default_rng(seed)
    name = f"{task}-{cell}"
    state_in, state_out = _state_io(cell) if step else ([], [])
    if task == "sentiment":
        emb = numpy_helper.from_array(rng.normal(0, 1, (vocab_size, EMBED)).astype(np.float32), "embedding")
        pre = [helper.make_node("Gather", ["embedding", "tokens"], ["embedded"])]
        if not step:
            pre.append(helper.make_node("Cast", ["lengths"], ["seq_lens"], to=TensorProto.INT32))
        rnn, rnn_inits, h = _rnn_nodes(cell, "embedded", EMBED, rng, seq_lens="" if step else "seq_lens", step=step)
        head, head_inits = _head(h, 2, "logits", rng)
        inputs = [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", "time"])]
        if not step:
            inputs.append(helper.make_tensor_value_info("lengths", TensorProto.INT64, ["batch"]))
        outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])]
        _finish(name, [*pre, *rnn, head], [emb, *rnn_inits, *head_inits], inputs + state_in, outputs + state_out, path)
    elif task == "keywords":
        rnn, rnn_inits, h = _rnn_nodes(cell, "features", 40, rng, step=step)
        head, head_inits = _head(h, 10, "logits", rng)
        inputs = [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", "time", 40])]
        outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])]
        _finish(name, [*rnn, head], [*rnn_inits, *head_inits], inputs + state_in, outputs + state_out, path)
    elif task == "forecast":
        rnn, rnn_inits, h = _rnn_nodes(cell, "history", len(ETT_VARIABLES), rng, step=step)
        head, head_inits = _head(h, HORIZON, "forecast", rng)
        inputs = [helper.make_tensor_value_info("history", TensorProto.FLOAT, ["batch", "time", 7])]
        outputs = [helper.make_tensor_value_info("forecast", TensorProto.FLOAT, ["batch", HORIZON])]
        _finish(name, [*rnn, head], [*rnn_inits, *head_inits], inputs + state_in, outputs + state_out, path)
    else:
        raise ValueError(f"unknown task {task!r}")


def tiny_streaming(task: str, cell: str, step_path: Path) -> StreamingSpec:
    """``model.json`` ``streaming`` for a tiny step model (its time axis free, states h (+ c))."""
    package = tiny_package(task, cell)
    inputs = [
        TensorSpec(name=s.name, datatype=s.datatype, shape=[-1, -1, *s.shape[2:]])
        for s in package.inputs
        if s.name != "lengths"
    ]
    states = [
        StateSpec(input=f"{n}_in", output=f"{n}_out", shape=[1, -1, HIDDEN])
        for n in (["h", "c"] if cell == "lstm" else ["h"])
    ]
    return streaming_spec(inputs, package.outputs, states, sha256=sha256_file(step_path))


def tiny_package(task: str, cell: str) -> ModelPackage:
    """``model.json`` content for one tiny model (sha256 is filled in by ``write_package``)."""
    common = {
        "name": f"{task}-{cell}",
        "task": task,
        "cell": cell,
        "description": f"tiny random {cell.upper()} {task} model for tests (hidden {HIDDEN})",
        "onnx_sha256": "",
        "training": {"tiny": True},
    }
    if task == "sentiment":
        return ModelPackage(
            **common,
            inputs=[
                TensorSpec(name="tokens", datatype="INT64", shape=[-1, -1]),
                TensorSpec(name="lengths", datatype="INT64", shape=[-1]),
            ],
            outputs=[TensorSpec(name="logits", datatype="FP32", shape=[-1, 2])],
            labels=LABELS_SENTIMENT,
            preprocessing=SentimentPreprocessing(max_tokens=64, max_chars=1000),
        )
    if task == "keywords":
        return ModelPackage(
            **common,
            inputs=[TensorSpec(name="features", datatype="FP32", shape=[-1, 98, 40])],
            outputs=[TensorSpec(name="logits", datatype="FP32", shape=[-1, 10])],
            labels=LABELS_KEYWORDS,
            preprocessing=KeywordsPreprocessing(),
        )
    return ModelPackage(
        **common,
        inputs=[TensorSpec(name="history", datatype="FP32", shape=[-1, LOOKBACK, 7])],
        outputs=[TensorSpec(name="forecast", datatype="FP32", shape=[-1, HORIZON])],
        preprocessing=ForecastPreprocessing(
            variables=ETT_VARIABLES,
            target="OT",
            lookback=LOOKBACK,
            horizon=HORIZON,
            mean=[7.0, 2.0, 4.5, 0.9, 3.0, 0.9, 17.0],
            std=[6.0, 2.0, 6.0, 1.7, 1.1, 0.6, 8.5],
            target_unit="°C",
        ),
    )


def build_tiny_repository(root: Path, names: tuple[str, ...] = MODEL_NAMES, seed: int = 0) -> Path:
    """Write the tiny packages ``names`` (default: all six) under ``root``; return ``root``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    vocab = Vocabulary([Vocabulary.PAD, Vocabulary.UNK, *WORDS])
    with tempfile.TemporaryDirectory(prefix="tiny-models-") as tmp_name:
        tmp = Path(tmp_name)
        vocab_path = tmp / "vocab.txt"
        vocab.save(vocab_path)
        for i, name in enumerate(names):
            task, cell = name.split("-")
            onnx_path = tmp / f"{name}.onnx"
            tiny_onnx(task, cell, onnx_path, seed=seed + i, vocab_size=len(vocab))
            step_path = tmp / f"{name}-step.onnx"
            tiny_onnx(task, cell, step_path, seed=seed + i, vocab_size=len(vocab), step=True)
            assets = {"vocab.txt": vocab_path} if task == "sentiment" else {}
            assets["model_step.onnx"] = step_path
            package = tiny_package(task, cell).model_copy(update={"streaming": tiny_streaming(task, cell, step_path)})
            write_package(root / name, package, onnx_path, assets)
    return root


if __name__ == "__main__":
    import sys

    print(build_tiny_repository(Path(sys.argv[1] if len(sys.argv) > 1 else "tiny-models")))
