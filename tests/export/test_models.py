"""The committed packages in models/: they load, their sha256 matches, their recorded parity holds
when re-checked with onnxruntime against the PyTorch outputs stored beside them, and the results
table is exactly what the generator makes from results.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from export.evaluate import evaluate_package
from export.report import render_markdown
from export.verify import check_reference
from service.package import read_package
from service.preprocess.text import Vocabulary
from tests.export.conftest import DATA_ROOT, MODELS_DIR, needs_data

NAMES = [f"{t}-{c}" for t in ("sentiment", "keywords", "forecast") for c in ("lstm", "gru")]
ONNX_DTYPE = {"FP32": onnx.TensorProto.FLOAT, "INT64": onnx.TensorProto.INT64}


def _package_dir(name: str) -> Path:
    folder = MODELS_DIR / name
    if not (folder / "model.json").is_file():
        pytest.skip(f"{folder} not built yet (run `make models`)")
    return folder


@pytest.mark.parametrize("name", NAMES)
def test_committed_package_loads_and_its_parity_holds(name: str) -> None:
    folder = _package_dir(name)
    package = read_package(folder)  # verifies the sha256 of model.onnx
    assert package.name == name and f"{package.task}-{package.cell}" == name
    assert package.parity is not None and package.parity.n_inputs >= 100
    assert package.parity.max_abs_diff <= package.parity.tolerance <= 1e-4
    assert check_reference(folder) <= package.parity.tolerance
    graph = onnx.load(str(folder / "model.onnx")).graph
    assert package.cell.upper() in {n.op_type for n in graph.node}
    for spec, tensor in zip(package.inputs, graph.input, strict=True):
        assert tensor.name == spec.name and tensor.type.tensor_type.elem_type == ONNX_DTYPE[spec.datatype]
    assert [o.name for o in graph.output] == [s.name for s in package.outputs]
    assert package.training["served_seed"] in package.training["seeds"] and len(package.training["seeds"]) >= 3


@pytest.mark.parametrize("task", ["sentiment", "keywords", "forecast"])
def test_preprocessing_travels_in_the_package(task: str) -> None:
    package = read_package(_package_dir(f"{task}-gru"))
    pre = package.preprocessing
    if task == "sentiment":
        vocab = Vocabulary.load(MODELS_DIR / f"{task}-gru" / pre.vocab_file)
        assert vocab.tokens[:2] == ["<pad>", "<unk>"] and len(vocab) > 1000
    elif task == "keywords":
        assert len(pre.feature_mean) == len(pre.feature_std) == pre.n_mels == 40
        assert package.labels == ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    else:
        assert pre.variables[-1] == pre.target == "OT" and pre.lookback == pre.horizon == 96


def test_results_markdown_is_generated_from_results_json() -> None:
    results_path = MODELS_DIR / "results.json"
    if not results_path.is_file():
        pytest.skip("models/results.json not built yet (run `make models`)")
    res = json.loads(results_path.read_text())
    assert set(res["tasks"]) == {"sentiment", "keywords", "forecast"}
    assert {"torch", "onnx", "onnxruntime"} <= set(res["versions"]) and res["hardware"]["torch_threads"] == 1
    assert len(res["claims"]) >= 8 and all(c["verdict"] for c in res["claims"])
    assert (MODELS_DIR / "RESULTS.md").read_text() == render_markdown(res)


@needs_data
@pytest.mark.data
def test_evaluate_on_the_test_months_reproduces_the_recorded_forecast_metrics() -> None:
    folder = _package_dir("forecast-lstm")
    package = read_package(folder)
    got = evaluate_package(folder, DATA_ROOT / "timeseries" / "ett" / "ETTh1.csv", rows=slice(11520 - 96, 14400))
    assert got["n_examples"] == 2785
    assert got["mse"] == pytest.approx(package.metrics["mse"], rel=1e-5)
    assert got["mae_celsius"] == pytest.approx(package.metrics["mae_celsius"], rel=1e-5)


@needs_data
@pytest.mark.data
def test_evaluate_on_the_test_takes_reproduces_the_recorded_keyword_metrics(tmp_path: Path) -> None:
    folder = _package_dir("keywords-gru")
    recordings = DATA_ROOT / "keyword_spotting" / "fsdd" / "recordings"
    for wav in recordings.glob("*.wav"):
        if 5 <= int(wav.stem.rsplit("_", 1)[1]) <= 9:
            (tmp_path / wav.name).symlink_to(wav)
    got = evaluate_package(folder, tmp_path)
    assert got["n_examples"] == 300
    assert np.isclose(got["accuracy"], read_package(folder).metrics["accuracy"])


@needs_data
@pytest.mark.data
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_evaluate_without_data_scores_the_held_out_test_sentences(cell: str) -> None:
    folder = _package_dir(f"sentiment-{cell}")
    got = evaluate_package(folder, None)
    assert got["n_examples"] == 1038 and got["data"].startswith("held-out test sentences")
    assert got["accuracy"] == pytest.approx(read_package(folder).metrics["accuracy"], abs=1e-9)
    assert got["f1"] == pytest.approx(read_package(folder).metrics["f1"], abs=1e-9)


INT8 = [f"{t}-lstm-int8" for t in ("sentiment", "keywords", "forecast")]


@pytest.mark.parametrize("name", INT8)
def test_committed_int8_package_is_integer_current_and_keeps_its_contract(name: str) -> None:
    """Its LSTM is the integer kernel, it was made from the fp32 package now committed (a retrained
    fp32 package would make it stale), it ships no step model, and its reference outputs stay
    within the tolerance it declares."""
    folder = _package_dir(name)
    package = read_package(folder)
    q = package.quantization
    assert package.precision == "int8" and q is not None and package.streaming is None
    source = read_package(MODELS_DIR / q.source)
    assert q.source == name.removesuffix("-int8") and q.source_onnx_sha256 == source.onnx_sha256
    ops = {n.op_type for n in onnx.load(str(folder / "model.onnx")).graph.node}
    assert "DynamicQuantizeLSTM" in ops and "LSTM" not in ops
    assert not (folder / "model_step.onnx").exists() and package.onnx_bytes * 3 < source.onnx_bytes
    assert max(q.max_abs_diff, q.batch_max_abs_diff, q.threads_max_abs_diff) <= q.tolerance / 2
    assert package.reference is not None and check_reference(folder, tol=q.tolerance) <= q.tolerance


@needs_data
@pytest.mark.data
@pytest.mark.parametrize("name", INT8)
def test_int8_agreement_and_metric_reproduce_on_the_held_out_inputs(name: str) -> None:
    """Re-measured on the inputs evaluate scores: labels agree at least as declared, outputs stay
    within the tolerance, the recorded metric is reproduced, and accuracy is within 1 point of fp32."""
    from export.evaluate import open_package, run_outputs, target_std
    from export.int8 import agreement, held_out
    from export.metrics import task_metrics

    folder = _package_dir(name)
    package = read_package(folder)
    q = package.quantization
    assert q is not None
    source_dir = MODELS_DIR / q.source
    inputs = held_out(source_dir, read_package(source_dir))
    assert len(inputs.ys) == q.n_inputs and inputs.data == q.data
    outs = [run_outputs(open_package(f)[0], package.task, inputs.xs) for f in (source_dir, folder)]
    got = agreement(package.task, *outs)
    assert got["max_abs_diff"] <= q.tolerance
    if q.min_label_agreement is not None:
        assert got["label_agreement"] >= q.min_label_agreement
        assert package.metrics["accuracy"] >= read_package(source_dir).metrics["accuracy"] - 0.01
    recorded = task_metrics(package.task, outs[1], inputs.ys, target_std(package))
    assert recorded == pytest.approx(package.metrics, rel=1e-6)
