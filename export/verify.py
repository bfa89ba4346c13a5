"""Parity checks: the exported ONNX graph must compute what the PyTorch model computes.

torch-free on purpose: the caller passes PyTorch's outputs as arrays, so the committed packages'
stored reference outputs can be re-checked anywhere onnxruntime runs (tests, CI, a serving box).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from export.evaluate import run_outputs
from service.package import Parity
from service.runtime.sessions import open_session
from service.tasks import TASKS

PARITY_TOL = 1e-4  # ORT vs PyTorch, max abs diff on logits / z-scored forecasts
PADDING_TOL = 1e-5  # sentiment: a row inside a right-padded batch vs the same row alone
REFERENCE_FILE = "reference.npz"  # a few real inputs + PyTorch outputs, shipped in the package
N_REFERENCE = 16


class ParityError(RuntimeError):
    """The exported graph disagrees with PyTorch: the export must fail loudly, not ship."""


def check_parity(onnx_path: Path, task: str, xs: Any, torch_out: np.ndarray, tol: float = PARITY_TOL) -> Parity:
    """Max |ORT − PyTorch| over ``xs`` (≥ 100 real inputs); raise :class:`ParityError` above ``tol``."""
    if len(xs) < 100:
        raise ParityError(f"parity needs at least 100 real inputs; got {len(xs)}")
    diff = float(np.max(np.abs(run_outputs(open_session(onnx_path), task, xs) - torch_out)))
    if not diff <= tol:
        raise ParityError(f"{onnx_path}: ORT vs PyTorch max abs diff {diff:.3g} > {tol:g} on {len(xs)} inputs")
    return Parity(n_inputs=len(xs), max_abs_diff=diff, tolerance=tol)


def check_padding(onnx_path: Path, xs: list[np.ndarray], tol: float = PADDING_TOL) -> float:
    """Sentiment: one right-padded batch of ``xs`` (mixed lengths) must equal each row run alone."""
    sess = open_session(onnx_path)
    batched = sess.run(None, TASKS["sentiment"].feeds(xs))[0]
    alone = np.concatenate([sess.run(None, TASKS["sentiment"].feeds([x]))[0] for x in xs])
    diff = float(np.max(np.abs(batched - alone)))
    if not diff <= tol:
        raise ParityError(f"{onnx_path}: padded batch vs single rows differ by {diff:.3g} > {tol:g}")
    return diff


def save_reference(path: Path, task: str, xs: Any, torch_out: np.ndarray) -> None:
    """Store the ONNX feeds of a few real inputs and PyTorch's outputs for them."""
    arrays: dict[str, Any] = {"expected": torch_out.astype(np.float32), **TASKS[task].feeds(xs)}
    np.savez_compressed(path, **arrays)


def check_reference(package_dir: Path, tol: float = PARITY_TOL) -> float:
    """Re-run the package's ``model.onnx`` on its stored reference inputs; max abs diff vs PyTorch."""
    package_dir = Path(package_dir)
    with np.load(package_dir / REFERENCE_FILE) as ref:
        feeds = {k: ref[k] for k in ref.files if k != "expected"}
        expected = ref["expected"]
    got = open_session(package_dir / "model.onnx").run(None, feeds)[0]
    diff = float(np.max(np.abs(got - expected)))
    if not diff <= tol:
        raise ParityError(f"{package_dir}: reference outputs differ by {diff:.3g} > {tol:g}")
    return diff
