"""The tiny repository follows the package and tensor contract the real models follow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from service.package import read_package
from tests.service.tiny_models import MODEL_NAMES


def test_six_valid_packages(tiny_repo: Path) -> None:
    assert sorted(p.name for p in tiny_repo.iterdir()) == sorted(MODEL_NAMES)
    for name in MODEL_NAMES:
        package = read_package(tiny_repo / name)  # verifies sha256
        session = ort.InferenceSession(str(tiny_repo / name / "model.onnx"), providers=["CPUExecutionProvider"])
        assert [i.name for i in session.get_inputs()] == [s.name for s in package.inputs]
        assert [o.name for o in session.get_outputs()] == [s.name for s in package.outputs]
        ops = {n.op_type for n in onnx.load(str(tiny_repo / name / "model.onnx")).graph.node}
        assert ("LSTM" if package.cell == "lstm" else "GRU") in ops


def test_padded_batch_equals_single_rows(tiny_repo: Path) -> None:
    """The contract: a padded sentiment batch answers like its rows sent one at a time."""
    session = ort.InferenceSession(str(tiny_repo / "sentiment-lstm" / "model.onnx"), providers=["CPUExecutionProvider"])
    tokens = np.array([[5, 6, 7, 0, 0], [8, 9, 10, 11, 12]], dtype=np.int64)
    lengths = np.array([3, 5], dtype=np.int64)
    batch = session.run(None, {"tokens": tokens, "lengths": lengths})[0]
    first = session.run(None, {"tokens": tokens[:1, :3], "lengths": lengths[:1]})[0]
    np.testing.assert_allclose(batch[0], first[0], atol=1e-6)
