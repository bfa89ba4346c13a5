"""Train → export → parity → onnxruntime, per task, on tiny fixtures with a tiny network.

These exercise the real code paths (the same functions `make models` runs), only smaller.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from export.cli import evaluate_main, export_main, train_main
from export.data import load_task
from export.evaluate import open_package
from service.tasks import TASKS
from export.onnx_export import export_run
from export.train import save_checkpoint, task_config, train_run
from export.verify import check_reference
from service.package import read_package
from tests.export.conftest import REPO_ROOT

TINY = {"hidden": 8, "embed_dim": 8, "epochs": 1}
EXPECTED_KEYS = {
    "sentiment": {"accuracy", "f1"},
    "keywords": {"accuracy", "macro_f1"},
    "forecast": {"mse", "mae", "mse_celsius", "mae_celsius"},
}
DATA_KEY = {"sentiment": "sst_dir", "keywords": "fsdd_dir", "forecast": "ett_csv"}


@pytest.fixture(scope="module")
def packages(fixtures: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny LSTM and GRU packages for sentiment and keywords, exported by the real exporter."""
    root = tmp_path_factory.mktemp("tiny-models")
    out = {}
    for task in ("sentiment", "keywords"):
        data = load_task(task, fixtures[DATA_KEY[task]])
        for cell in ("lstm", "gru"):
            model, result = train_run(data, cell, seed=0, cfg=task_config(task, **TINY))
            save_checkpoint(root / "runs" / f"{task}-{cell}" / "seed0.pt", model, result, data)
            export_run(root / "runs" / f"{task}-{cell}", root / f"{task}-{cell}", data)
            out[f"{task}-{cell}"] = root / f"{task}-{cell}"
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sentiment-lstm", "sentiment-gru", "keywords-lstm", "keywords-gru"])
def test_package_has_native_rnn_ops_contract_names_and_recorded_parity(packages: dict[str, Path], name: str) -> None:
    package = read_package(packages[name])
    graph = onnx.load(str(packages[name] / "model.onnx")).graph
    ops = [n.op_type for n in graph.node]
    assert package.cell.upper() in ops and not {"Loop", "Scan"} & set(ops)
    if package.cell == "gru":
        gru = next(n for n in graph.node if n.op_type == "GRU")
        assert any(a.name == "linear_before_reset" and a.i == 1 for a in gru.attribute)
    assert [i.name for i in graph.input] == [s.name for s in package.inputs]
    assert [o.name for o in graph.output] == [s.name for s in package.outputs]
    assert package.parity is not None and package.parity.n_inputs >= 100
    assert package.parity.max_abs_diff <= package.parity.tolerance <= 1e-4
    assert check_reference(packages[name]) <= 1e-4
    session, _ = open_package(packages[name])
    assert session.get_inputs()[0].shape[0] == "batch"  # dynamic batch axis


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_padded_sentiment_batch_equals_each_row_alone(packages: dict[str, Path], cell: str) -> None:
    session, _ = open_package(packages[f"sentiment-{cell}"])
    rows = [np.array([5, 9, 2, 7, 3, 11, 4]), np.array([6]), np.array([8, 3, 10])]
    batched = session.run(None, TASKS["sentiment"].feeds(rows))[0]
    assert TASKS["sentiment"].feeds(rows)["tokens"].shape == (3, 7)  # right-padded
    for i, row in enumerate(rows):
        alone = session.run(None, TASKS["sentiment"].feeds([row]))[0]
        assert np.max(np.abs(batched[i] - alone[0])) <= 1e-5


@pytest.mark.slow
@pytest.mark.parametrize(
    ("task", "unseen", "n"),
    [
        ("sentiment", "sst_unseen", 50),  # GLUE tsv
        ("sentiment", "sst_unseen_label_first", 30),  # <label> <sentence> lines
        ("sentiment", "sst_unseen_folder", 80),  # a folder holding both
        ("keywords", "fsdd_unseen", 20),
    ],
)
def test_evaluate_cli_prints_one_json_object_on_unseen_data(
    packages: dict[str, Path],
    fixtures: dict[str, Path],
    task: str,
    unseen: str,
    n: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert evaluate_main(["--model", str(packages[f"{task}-gru"]), "--data", str(fixtures[unseen])]) == 0
    result = json.loads(capsys.readouterr().out)
    assert EXPECTED_KEYS[task] | {"n_examples"} <= set(result)
    assert result["n_examples"] == n
    assert all(0.0 <= result[k] <= 1.0 for k in EXPECTED_KEYS[task])


@pytest.mark.slow
def test_forecast_through_the_cli_train_export_evaluate(
    fixtures: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs, pkg = tmp_path / "runs", tmp_path / "forecast-gru"
    common = ["--task", "forecast", "--data", str(fixtures["ett_csv"])]
    assert (
        train_main([*common, "--cell", "gru", "--seeds", "0", "--epochs", "1", "--hidden", "8", "--out", str(runs)])
        == 0
    )
    assert (runs / "forecast-gru" / "seed0.pt").is_file()
    assert export_main([*common, "--cell", "gru", "--runs", str(runs), "--seed", "0", "--out", str(pkg)]) == 0
    package = read_package(pkg)
    assert package.preprocessing.lookback == 96 and package.outputs[0].shape == [-1, 96]
    assert "GRU" in [n.op_type for n in onnx.load(str(pkg / "model.onnx")).graph.node]
    assert package.parity is not None and package.parity.max_abs_diff <= 1e-4
    assert check_reference(pkg) <= 1e-4
    capsys.readouterr()
    assert evaluate_main(["--model", str(pkg), "--data", str(fixtures["ett_unseen"])]) == 0
    result = json.loads(capsys.readouterr().out)
    assert EXPECTED_KEYS["forecast"] | {"n_examples"} <= set(result)
    assert result["n_examples"] == 400 - 96 - 96 + 1
    assert result["mse_celsius"] == pytest.approx(result["mse"] * package.preprocessing.std[6] ** 2)


def test_evaluate_reports_a_bad_path_without_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert evaluate_main(["--model", str(tmp_path / "missing"), "--data", str(tmp_path)]) == 2
    assert "model.json is missing" in capsys.readouterr().err


def test_evaluate_does_not_import_torch() -> None:
    code = "import sys, export.evaluate, export.verify; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
