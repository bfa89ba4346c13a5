"""The deployment map on tiny packages: the int8 pairing, the binary V2 request the served cells
send, and a quick ``run`` (raw and a real server) that writes records, figure and report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from export.deployment import BATCHES, THREADS, _records, run, v2_request
from export.int8 import HeldOut, build_int8
from export.report import render_markdown
from service.v2.codec import decode_request
from tests.export.conftest import MODELS_DIR
from tests.service.tiny_models import build_tiny_repository


def test_int8_ratio_is_the_fp32_gru_against_the_int8_lstm() -> None:
    fp32, int8 = _records("forecast", 2, 8, "raw", {"lstm-fp32": 2.0, "lstm-int8": 1.0, "gru-fp32": 1.5})
    assert (fp32["precision"], fp32["lstm_p50_ms"], fp32["gru_p50_ms"], fp32["ratio"]) == ("fp32", 2.0, 1.5, 0.75)
    assert (int8["precision"], int8["lstm_p50_ms"], int8["gru_p50_ms"], int8["ratio"]) == ("int8", 1.0, 1.5, 1.5)
    assert {k: int8[k] for k in ("task", "threads", "batch", "mode")} == {
        "task": "forecast",
        "threads": 2,
        "batch": 8,
        "mode": "raw",
    }


def test_served_cells_send_the_whole_batch_as_binary_v2_tensors() -> None:
    """The service's own decoder reads back exactly the arrays, and binary output is asked for."""
    tokens = np.arange(2, 2 + 8 * 20, dtype=np.int64).reshape(8, 20)
    history = np.random.default_rng(0).standard_normal((8, 96, 7)).astype(np.float32)
    req = v2_request("m", {"tokens": tokens, "history": history})
    assert req.path == "/v2/models/m/infer"
    decoded = decode_request(req.body, req.headers["Inference-Header-Content-Length"])
    assert [t.name for t in decoded.inputs] == ["tokens", "history"]
    np.testing.assert_array_equal(decoded.inputs[0].array, tokens)
    np.testing.assert_array_equal(decoded.inputs[1].array, history)
    assert decoded.parameters["binary_data_output"] is True


def test_quick_run_on_tiny_packages_writes_records_figure_and_report(fixtures: dict[str, Path], tmp_path: Path) -> None:
    if not (MODELS_DIR / "results.json").is_file():
        pytest.skip("models/results.json not built yet (run `make models`)")
    models = build_tiny_repository(tmp_path / "models", ("forecast-lstm", "forecast-gru"))
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((20, 96, 7)).astype(np.float32)
    build_int8(models / "forecast-lstm", models / "forecast-lstm-int8", HeldOut(xs, xs[:, :, -1], "random"), False)
    shutil.copy(MODELS_DIR / "results.json", models / "results.json")
    res = run(models, quick=True, data={"forecast": fixtures["ett_csv"]})
    records = res["sweeps"]["deployment"]["records"]
    assert len(records) == len(THREADS) * len(BATCHES) * 2 * 2  # × precision × mode, one task
    assert {(r["mode"], r["precision"]) for r in records} == {
        (m, p) for m in ("raw", "served") for p in ("fp32", "int8")
    }
    for r in records:
        assert r["task"] == "forecast" and r["lstm_p50_ms"] > 0 and r["ratio"] == r["gru_p50_ms"] / r["lstm_p50_ms"]
        twin = next(
            s
            for s in records
            if s["precision"] != r["precision"] and all(s[k] == r[k] for k in ("mode", "threads", "batch"))
        )
        assert twin["gru_p50_ms"] == r["gru_p50_ms"]  # both precisions compare against the one fp32 GRU
        assert (r["mode"] == "raw") == ("cpu_ratio" in r) and r.get("cpu_ratio", 1.0) > 0
    assert (models / "figures" / "deployment_map.png").stat().st_size > 1000
    assert json.loads((models / "results.json").read_text())["sweeps"]["deployment"]["records"] == records
    assert (models / "RESULTS.md").read_text() == render_markdown(res)
    assert "## Deployment map: GRU/LSTM latency ratio" in render_markdown(res)
