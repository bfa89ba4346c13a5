"""What every peer shares: the onnxruntime session (rnn-serve's options, copied) and V2 JSON tensors.

The peers' virtualenvs have onnxruntime and numpy but not this project, so nothing here imports
``service``: the options of ``service.runtime.sessions.session_options`` are copied, and
``tests/benchmarks/test_peers.py`` fails the day the two differ in any attribute.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

#: V2 datatype ↔ numpy dtype, for the graphs' FP32 / INT64 / INT32 tensors
DTYPES: dict[str, type[np.generic]] = {"FP32": np.float32, "INT64": np.int64, "INT32": np.int32}
DATATYPES = {np.dtype(v).name: k for k, v in DTYPES.items()}


def session_options() -> ort.SessionOptions:
    """What ``rnn-serve serve`` runs with its default settings (``SessionConfig.from_settings``):
    one intra/inter-op thread, all graph optimisations, sequential, CPU arena off (the
    ``cpu_mem_arena`` setting's default), memory patterns off (RNN inputs change shape), warnings off."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.enable_cpu_mem_arena = False
    opts.enable_mem_pattern = False
    opts.log_severity_level = 3
    return opts


class PeerModel:
    """One ONNX graph on the CPU provider, run on named numpy feeds."""

    def __init__(self, path: Path | str) -> None:
        self.session = ort.InferenceSession(
            str(path), sess_options=session_options(), providers=["CPUExecutionProvider"]
        )
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.session.run(self.output_names, feeds), strict=True))


def decode_v2(doc: dict[str, Any]) -> dict[str, np.ndarray]:
    """A V2 JSON request's ``inputs`` as numpy arrays (flat ``data``, reshaped to ``shape``)."""
    return {t["name"]: np.asarray(t["data"], dtype=DTYPES[t["datatype"]]).reshape(t["shape"]) for t in doc["inputs"]}


def encode_v2(model_name: str, outputs: dict[str, np.ndarray]) -> dict[str, Any]:
    """A V2 JSON response: one tensor per output, ``data`` flat in row-major order."""
    return {
        "model_name": model_name,
        "outputs": [
            {"name": n, "datatype": DATATYPES[a.dtype.name], "shape": list(a.shape), "data": a.ravel().tolist()}
            for n, a in outputs.items()
        ],
    }
