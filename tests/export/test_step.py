"""Step models (``export/step.py``): streamed chunks == one-shot, native ops, state bytes.

Fresh random nets (hidden 8) exercise the exporter for every task × cell in seconds; the
committed packages are checked on their stored reference inputs and, where ``../shared/data``
exists, on real ETTh1 rows far longer than a training window.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from export.onnx_export import to_onnx
from export.step import CHUNK_SIZES, STEP_FILE, build_step
from export.train import build_model, task_config, to_inputs
from service.package import StreamingSpec, read_package, verify_streaming
from service.preprocess.series import normalize
from service.runtime.sessions import open_session
from service.runtime.step import StepModel, split_time
from service.tasks import TASKS as TASK_TYPES
from tests.export.conftest import DATA_ROOT, MODELS_DIR, needs_data

TASKS = ("sentiment", "keywords", "forecast")
SHAPES = {"sentiment": {"vocab_size": 50}, "keywords": {"n_mels": 40}, "forecast": {"n_vars": 7, "horizon": 96}}


def _probe(task: str, rng: np.random.Generator) -> list[np.ndarray]:
    if task == "sentiment":
        return [rng.integers(2, 50, n).astype(np.int64) for n in (1, 5, 13, 60)]
    width = 40 if task == "keywords" else 7
    return list(rng.normal(0, 1, (4, 98 if task == "keywords" else 96, width)).astype(np.float32))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("task", TASKS)
def test_random_net_stream_equals_one_shot(task: str, cell: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = build_model(task, cell, task_config(task, hidden=8), SHAPES[task]).eval()
    rng = np.random.default_rng(0)
    probe = _probe(task, rng)
    example = to_inputs(task, probe[:2])
    to_onnx(net, task, example, tmp_path / "model.onnx")
    spec = build_step(net, task, cell, example[0], tmp_path / "model.onnx", tmp_path / STEP_FILE, probe)
    assert spec.parity_max_abs_diff is not None and spec.parity_max_abs_diff <= 1e-5
    graph = onnx.load(str(tmp_path / STEP_FILE)).graph
    rnn = [n for n in graph.node if n.op_type == cell.upper()]
    assert len(rnn) == 1 and not {"Loop", "Scan"} & {n.op_type for n in graph.node}
    assert len(rnn[0].output) >= 2 and rnn[0].output[1]  # Y_h exposed
    # the state matters: the last chunk alone (from zeros) answers differently than the stream
    step, name = StepModel.open("test", tmp_path / STEP_FILE, spec), spec.inputs[0].name
    x = probe[1][None][:, :6]  # short, so a random net's state has not forgotten the first chunks
    chunks = split_time(x, CHUNK_SIZES)
    streamed = step.run_chunks([{name: c} for c in chunks])[spec.outputs[0].name]
    alone = step.run_chunks([{name: chunks[-1]}])[spec.outputs[0].name]
    assert np.max(np.abs(streamed - alone)) > 1e-4
    full = open_session(tmp_path / "model.onnx").run(None, TASK_TYPES[task].feeds(x))[0]
    np.testing.assert_allclose(streamed, full, atol=1e-5)
    gru_bytes = 4 * 8  # one layer, hidden 8
    assert spec.recurrent_state_bytes == (2 if cell == "lstm" else 1) * gru_bytes


def _packages() -> list[Path]:
    return [MODELS_DIR / f"{t}-{c}" for t in TASKS for c in ("lstm", "gru")]


def _streaming(folder: Path) -> StreamingSpec:
    if not (folder / "model.json").is_file():
        pytest.skip(f"{folder} is not built (run `make models`)")
    spec = read_package(folder).streaming
    assert spec is not None, f"{folder}: model.json has no streaming step model; re-export it"
    return spec


@pytest.mark.parametrize("folder", _packages(), ids=lambda p: p.name)
def test_committed_step_model_matches_one_shot_on_reference(folder: Path) -> None:
    spec = _streaming(folder)
    step = StepModel.open("test", verify_streaming(folder, spec), spec)
    full = open_session(folder / "model.onnx")
    task = read_package(folder).task
    with np.load(folder / "reference.npz") as ref:
        feeds = {k: ref[k] for k in ref.files if k != "expected"}
    name = spec.inputs[0].name
    for i in range(len(feeds[name])):
        x = feeds[name][i : i + 1]
        if task == "sentiment":
            x = x[:, : int(feeds["lengths"][i])]
        expected = full.run(None, TASK_TYPES[task].feeds(x))[0]
        got = step.run_chunks([{name: c} for c in split_time(x, CHUNK_SIZES)])[spec.outputs[0].name]
        np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("task", TASKS)
def test_committed_lstm_state_is_twice_gru(task: str) -> None:
    lstm, gru = _streaming(MODELS_DIR / f"{task}-lstm"), _streaming(MODELS_DIR / f"{task}-gru")
    assert lstm.recurrent_state_bytes == 2 * gru.recurrent_state_bytes > 0
    assert lstm.bytes_per_session - lstm.recurrent_state_bytes == gru.bytes_per_session - gru.recurrent_state_bytes


@needs_data
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_forecast_stream_of_real_hours_equals_one_shot(cell: str) -> None:
    """500 real ETTh1 test hours, hour by hour then in day-sized chunks, == model.onnx on all of them."""
    folder = MODELS_DIR / f"forecast-{cell}"
    spec = _streaming(folder)
    package = read_package(folder)
    raw = np.loadtxt(
        DATA_ROOT / "timeseries" / "ett" / "ETTh1.csv", delimiter=",", skiprows=1, usecols=range(1, 8), max_rows=12_100
    )[11_600:12_100]
    x = normalize(raw, package.preprocessing)[None]
    step = StepModel.open("test", verify_streaming(folder, spec), spec)
    full = open_session(folder / "model.onnx")
    sizes = [1] * 30 + [24] * 19
    got = step.run_chunks([{"history": c} for c in split_time(x, sizes)])["forecast"]
    np.testing.assert_allclose(got, full.run(None, {"history": x})[0], atol=1e-5)
    first_96 = step.run_chunks([{"history": c} for c in split_time(x[:, :96], [50, 46])])["forecast"]
    np.testing.assert_allclose(first_96, full.run(None, {"history": x[:, :96]})[0], atol=1e-5)
