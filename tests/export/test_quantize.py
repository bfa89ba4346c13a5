"""int8 packages on tiny data: the contract arithmetic, the GRU refusal, and a whole ``run`` that
writes packages, the ``sweeps.int8`` section and the report it feeds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from export.int8 import NoIntegerKernel, _round_up, agreement, build_int8, declared_contract, held_out, quantize
from export.quantize import claim_rows, run
from export.report import render_markdown
from service.package import read_package
from tests.export.conftest import MODELS_DIR
from tests.service.tiny_models import build_tiny_repository

DATA_KEY = {"sentiment": "sst_dir", "keywords": "fsdd_dir", "forecast": "ett_csv"}


def test_declared_contract_rounds_the_worst_diff_up_with_margin() -> None:
    assert [_round_up(x) for x in (0.0123, 0.3, 1.3, 2.6)] == [0.02, 0.3, 2.0, 3.0]
    agreed = {"label_agreement": 0.9966, "max_abs_diff": 0.4, "mean_abs_diff": 0.01}
    assert declared_contract(agreed, spread=1.3, reference_diff=0.2) == (3.0, 0.986)
    assert declared_contract({**agreed, "label_agreement": None}, 0.01, 0.0) == (0.8, None)


def test_agreement_counts_identical_labels_and_output_diffs() -> None:
    a = np.array([[0.0, 1.0], [2.0, 0.0], [0.0, 3.0], [1.0, 0.0]], np.float32)
    b = np.array([[0.0, 1.5], [0.0, 2.0], [0.0, 3.0], [1.0, 0.0]], np.float32)
    assert agreement("sentiment", a, b) == {"label_agreement": 0.75, "max_abs_diff": 2.0, "mean_abs_diff": 0.5625}
    assert agreement("forecast", a, b)["label_agreement"] is None


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_repository(tmp_path_factory.mktemp("quantize") / "models")


def test_a_gru_keeps_its_fp32_recurrent_op_so_no_int8_package(tiny: Path, fixtures: dict[str, Path]) -> None:
    """onnxruntime has DynamicQuantizeLSTM and no integer GRU: the GRU op survives quantize_dynamic."""
    ops = quantize(tiny / "forecast-gru" / "model.onnx", tiny.parent / "gru-q.onnx", per_channel=False)
    assert ops["GRU"] == 1 and not any("Quantize" in op and "GRU" in op for op in ops)
    inputs = held_out(tiny / "forecast-gru", read_package(tiny / "forecast-gru"), fixtures["ett_csv"])
    with pytest.raises(NoIntegerKernel, match="DynamicQuantizeLSTM"):
        build_int8(tiny / "forecast-gru", tiny.parent / "forecast-gru-int8", inputs, per_channel=False)
    assert not (tiny.parent / "forecast-gru-int8").exists()


def test_run_writes_int8_packages_and_the_section(tiny: Path, fixtures: dict[str, Path]) -> None:
    if not (MODELS_DIR / "results.json").is_file():
        pytest.skip("models/results.json not built yet (run `make models`)")
    shutil.copy(MODELS_DIR / "results.json", tiny / "results.json")
    res = run(tiny, quick=True, data={t: fixtures[k] for t, k in DATA_KEY.items()})
    section = res["sweeps"]["int8"]
    assert list(section["tasks"]) == ["sentiment", "keywords", "forecast"]
    for task, r in section["tasks"].items():
        package = read_package(tiny / f"{task}-lstm-int8")
        q = package.quantization
        assert package.precision == "int8" and q is not None and package.streaming is None
        assert q.source_onnx_sha256 == read_package(tiny / f"{task}-lstm").onnx_sha256
        assert r["int8_bytes"] == package.onnx_bytes and r["int8"] == package.metrics[r["metric"]]
        assert set(r["raw_p50_ms"]) == {"lstm-fp32", "lstm-int8", "gru-fp32", "gru-int8"}
        assert r["gru"]["recurrent_op_still_fp32"] and set(r["variants"]) == {"per_tensor", "per_channel"}
        assert q.max_abs_diff <= q.tolerance and (task == "forecast") == (q.label_agreement is None)
    assert section["tasks"]["keywords"]["n_inputs"] == 100  # 10 digits × 2 speakers × takes 5–9
    assert json.loads((tiny / "results.json").read_text())["sweeps"]["int8"] == section
    assert (tiny / "RESULTS.md").read_text() == render_markdown(res)
    assert "## int8 LSTM packages" in render_markdown(res) and "No GRU int8 package" in render_markdown(res)
    assert claim_rows(section)[0]["claim"] == "int8 LSTM loses ≤ 1 point accuracy"
