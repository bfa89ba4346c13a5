"""The ONE way this project opens an onnxruntime session: the server, streaming, export
verification, evaluation and the benchmarks all call :func:`open_session`, so a measured figure
and a served answer come from sessions built with the same options.

The CPU memory arena is off by default, as the ``cpu_mem_arena`` setting's default, so that a
server's memory follows its current load rather than the largest request it ever ran (one
100,000-token request once cost hundreds of MB for good). Every entry point now refuses
sequences over the model's ``max_sequence_length``, so with the arena on the peak is the largest
*legal* request's, and large keywords batches run faster: turn it on where big batches dominate
(``python -m benchmarks.bench_arena`` prints both, per model). Memory patterns (allocation plans
cached per input shape) are off: RNN inputs change shape with every request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from service.package import META_FILE, PackageError
from service.settings import GraphOptimization, Settings

OPT_LEVELS: dict[str, ort.GraphOptimizationLevel] = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
#: model.json datatype → onnxruntime's type string for graph inputs/outputs
ORT_TYPES = {"FP32": "tensor(float)", "INT64": "tensor(int64)", "INT32": "tensor(int32)"}


@dataclass(frozen=True)
class SessionConfig:
    """Session options that change speed or memory; the defaults are what the service uses."""

    intra_op_threads: int = 1
    inter_op_threads: int = 1
    graph_optimization_level: GraphOptimization = "all"
    cpu_mem_arena: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionConfig:
        return cls(
            settings.intra_op_threads,
            settings.inter_op_threads,
            settings.graph_optimization_level,
            settings.cpu_mem_arena,
        )


def session_options(config: SessionConfig) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = config.intra_op_threads
    opts.inter_op_num_threads = config.inter_op_threads
    opts.graph_optimization_level = OPT_LEVELS[config.graph_optimization_level]
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.enable_cpu_mem_arena = config.cpu_mem_arena
    opts.enable_mem_pattern = False
    opts.log_severity_level = 3
    return opts


def open_session(path: Path, config: SessionConfig | None = None) -> ort.InferenceSession:
    """An onnxruntime CPU session on ``path`` with ``config`` (default: one thread, no arena)."""
    return ort.InferenceSession(
        str(path), sess_options=session_options(config or SessionConfig()), providers=["CPUExecutionProvider"]
    )


def describe(session: ort.InferenceSession) -> dict[str, object]:
    """The onnxruntime configuration actually in force for ``session`` (reported per model)."""
    opts = session.get_session_options()
    level = {v: k for k, v in OPT_LEVELS.items()}.get(opts.graph_optimization_level, str(opts.graph_optimization_level))
    return {
        "onnxruntime_version": ort.__version__,
        "execution_providers": session.get_providers(),
        "intra_op_threads": opts.intra_op_num_threads,
        "inter_op_threads": opts.inter_op_num_threads,
        "threads_note": "0 = onnxruntime's default (one per physical core)",
        "execution_mode": "sequential" if opts.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL else "parallel",
        "graph_optimization_level": level,
        "cpu_mem_arena": opts.enable_cpu_mem_arena,
    }


def check_io(session: ort.InferenceSession, inputs: Mapping[str, str], outputs: Mapping[str, str], what: str) -> None:
    """Raise :class:`PackageError` if the graph's inputs/outputs (name → model.json datatype) differ."""
    for kind, actual, declared in (("input", session.get_inputs(), inputs), ("output", session.get_outputs(), outputs)):
        got = {a.name: a.type for a in actual}
        want = {name: ORT_TYPES[dtype] for name, dtype in declared.items()}
        if got != want:
            raise PackageError(f"the {kind}s of {what} do not match {META_FILE}", f"{got} vs {want}")
