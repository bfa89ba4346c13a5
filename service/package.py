"""The model package: the ONE contract between the exporter (writer) and the service (reader).

A package is a folder ``models/<task>-<cell>/`` holding ``model.onnx``, ``model.json`` and any
assets (vocabulary, ...). ``model.json`` is a :class:`ModelPackage`. The exporter writes it with
:func:`write_package`, the service reads it with :func:`read_package`, and the V2 metadata, the
task-level API and the docs are all derived from it, so the format cannot drift between sides.

This module imports neither torch nor onnxruntime: both sides can use it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.settings import MAX_ROWS

Task = Literal["sentiment", "keywords", "forecast"]
Cell = Literal["lstm", "gru"]
Datatype = Literal["FP32", "INT64", "INT32"]
Precision = Literal["fp32", "int8"]

MODEL_FILE = "model.onnx"
META_FILE = "model.json"

#: numpy dtype name for each V2 datatype the packages use.
NUMPY_DTYPE: dict[str, str] = {"FP32": "float32", "INT64": "int64", "INT32": "int32"}


class PackageError(Exception):
    """A package folder that cannot be served: missing file, bad JSON, sha256 mismatch.

    ``reason`` is safe to show any client (no paths, no file contents); the message, for the
    log, has the details.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorSpec(_Strict):
    """One input or output tensor of ``model.onnx``, as the V2 metadata reports it.

    ``shape`` includes the batch axis first; ``-1`` marks a dynamic axis.
    """

    name: str
    datatype: Datatype
    shape: list[int]


class SentimentPreprocessing(_Strict):
    """Text → token ids. The vocabulary file lists one token per line; line index = id."""

    kind: Literal["sentiment"] = "sentiment"
    vocab_file: str = "vocab.txt"
    pad_id: int = 0
    unk_id: int = 1
    lowercase: bool = True
    max_tokens: int = Field(256, description="texts with more tokens are rejected (422)")
    max_chars: int = Field(4096, description="texts with more characters are rejected (422)")


class KeywordsPreprocessing(_Strict):
    """Waveform → log-mel features on a fixed window (see ``service.preprocess.audio``)."""

    kind: Literal["keywords"] = "keywords"
    sample_rate: int = 8000
    clip_samples: int = 8000
    max_input_samples: int = Field(8000 * 4, description="longer audio is rejected (422); shorter is zero-padded")
    n_fft: int = 256
    win_length: int = 200
    hop_length: int = 80
    n_mels: int = 40
    f_min: float = 20.0
    f_max: float = 4000.0
    log_floor: float = 1e-6
    feature_mean: list[float] | None = Field(
        None, description="per-mel-band mean fitted on the training split (None = no scaling)"
    )
    feature_std: list[float] | None = None


class ForecastPreprocessing(_Strict):
    """Rows of raw variables → z-scored window; z-scored output → target units."""

    kind: Literal["forecast"] = "forecast"
    variables: list[str]
    target: str
    lookback: int
    horizon: int
    mean: list[float] = Field(description="per-variable mean fitted on the training split")
    std: list[float] = Field(description="per-variable std fitted on the training split")
    target_unit: str = ""
    max_chunk_rows: int = Field(10_000, description="most hourly rows one streaming chunk may carry (422 above)")


Preprocessing = Annotated[
    SentimentPreprocessing | KeywordsPreprocessing | ForecastPreprocessing,
    Field(discriminator="kind"),
]


class Parity(_Strict):
    """ORT-vs-PyTorch check recorded by the exporter."""

    n_inputs: int
    max_abs_diff: float
    tolerance: float


class BatchingConfig(_Strict):
    """Dynamic-batching defaults for this model (used with ``batching=package``)."""

    max_batch_rows: int = Field(
        1, ge=1, le=MAX_ROWS, description="most rows one batched session.run may hold (1 = no batching)"
    )
    max_queue_delay_us: int = 0
    max_queue_size: int = 64


class StateSpec(_Strict):
    """One tensor a streaming session carries from chunk to chunk (zeros before the first chunk).

    ``shape`` has ``-1`` at the batch axis (ONNX LSTM/GRU states are ``[layers, batch, hidden]``,
    hence not always first); a session holds one row: the ``-1`` replaced by 1.
    """

    input: str
    output: str
    datatype: Literal["FP32"] = "FP32"
    shape: list[int]
    recurrent: bool = Field(True, description="h or c of the RNN (False: an auxiliary running value)")

    @property
    def session_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= 1 if d < 0 else d
        return n


class StreamingSpec(_Strict):
    """``model_step.onnx``: the model with explicit state inputs/outputs, for streaming sessions.

    Feeding a sequence chunk by chunk, each chunk with the previous chunk's state outputs, gives
    the same outputs as ``model.onnx`` on the concatenated sequence (``parity`` records the check).
    """

    file: str = "model_step.onnx"
    sha256: str
    inputs: list[TensorSpec] = Field(description="the data inputs of one chunk (time axis dynamic)")
    outputs: list[TensorSpec]
    states: list[StateSpec]
    recurrent_state_bytes: int = Field(description="bytes of h (+ c for LSTM) one session holds")
    bytes_per_session: int = Field(description="bytes of every state tensor one session holds")
    parity_max_abs_diff: float | None = None


def streaming_spec(
    inputs: list[TensorSpec],
    outputs: list[TensorSpec],
    states: list[StateSpec],
    sha256: str,
    file: str = "model_step.onnx",
    parity: float | None = None,
) -> StreamingSpec:
    """Build the spec with its byte counts derived from the state shapes (4 bytes per FP32)."""
    return StreamingSpec(
        file=file,
        sha256=sha256,
        inputs=inputs,
        outputs=outputs,
        states=states,
        recurrent_state_bytes=4 * sum(s.session_elements for s in states if s.recurrent),
        bytes_per_session=4 * sum(s.session_elements for s in states),
        parity_max_abs_diff=parity,
    )


class ReferenceSpec(_Strict):
    """``reference.npz``: a few real inputs with PyTorch's outputs, re-checkable without torch."""

    file: str
    n_inputs: int
    tolerance: float


class Quantization(_Strict):
    """How an int8 package was made from its fp32 package, and the contract it is held to.

    An int8 package is not checked against PyTorch at 1e-4 (its weights are rounded on purpose):
    it declares how far its outputs may stray from its fp32 source (``tolerance``, max abs diff on
    logits / z-scored forecasts) and, for classifiers, the least share of identical labels
    (``min_label_agreement``); the measured figures on the held-out test inputs sit beside them.
    Dynamic quantization picks each activation's scale from the batch it sees, so an answer depends
    on the other rows of its batch: ``batch_max_abs_diff`` is that spread (a row alone vs the same
    row inside the evaluation batch), and ``threads_max_abs_diff`` the same for the intra-op thread
    count; both are inside ``tolerance``.
    """

    method: Literal["onnxruntime.quantization.quantize_dynamic"] = "onnxruntime.quantization.quantize_dynamic"
    weight_type: Literal["QInt8"] = "QInt8"
    per_channel: bool
    source: str = Field(description="the fp32 package quantized")
    source_onnx_sha256: str = Field(description="its model.onnx, so a retrained fp32 package shows this one stale")
    data: str = Field(description="the held-out inputs the agreement was measured on")
    n_inputs: int
    label_agreement: float | None = Field(description="share of identical predicted labels (None: forecast)")
    max_abs_diff: float
    mean_abs_diff: float
    batch_max_abs_diff: float
    threads_max_abs_diff: float = Field(
        description="1 vs 2 intra-op threads, same batches: int8 kernels split differently"
    )
    tolerance: float
    min_label_agreement: float | None = None


class ModelPackage(BaseModel):
    """``model.json``: everything needed to serve, describe and audit one model.

    Undeclared fields are refused: a misspelt field would otherwise be silently ignored.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    task: Task
    cell: Cell
    version: str = "1"
    description: str = ""
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    labels: list[str] | None = None
    preprocessing: Preprocessing
    metrics: dict[str, float] = Field(default_factory=dict)
    training: dict[str, Any] = Field(default_factory=dict)
    parameter_count: int = 0
    onnx_sha256: str
    onnx_bytes: int = 0
    parity: Parity | None = None
    batching: BatchingConfig = Field(default_factory=BatchingConfig)
    versions: dict[str, str] = Field(default_factory=dict)
    streaming: StreamingSpec | None = Field(None, description="step model for stateful sessions (optional)")
    reference: ReferenceSpec | None = None
    precision: Precision = Field("fp32", description="of the weights in model.onnx (int8: dynamically quantized)")
    quantization: Quantization | None = Field(None, description="int8 only: its source and agreement contract")

    @model_validator(mode="after")
    def _int8_has_its_contract(self) -> ModelPackage:
        """An int8 package without its contract could not be checked; one with a step model would
        stream answers that depend on the chunking (see :class:`Quantization`)."""
        if (self.precision == "int8") != (self.quantization is not None):
            raise ValueError("precision int8 and a quantization record go together")
        if self.precision == "int8" and self.streaming is not None:
            raise ValueError("an int8 package ships no step model")
        return self


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, streamed so large models do not sit in memory twice."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_package(folder: Path, verify_sha256: bool = True) -> ModelPackage:
    """Read and validate ``folder/model.json``; raise :class:`PackageError` with the reason."""
    folder = Path(folder)
    meta_path = folder / META_FILE
    onnx_path = folder / MODEL_FILE
    if not meta_path.is_file():
        raise PackageError(f"{META_FILE} is missing", str(meta_path))
    if not onnx_path.is_file():
        raise PackageError(f"{MODEL_FILE} is missing", str(onnx_path))
    try:
        package = ModelPackage.model_validate_json(meta_path.read_bytes())
    except ValueError as exc:
        raise PackageError(f"{META_FILE} is not a valid model package", f"{meta_path}: {exc}") from exc
    if verify_sha256:
        actual = sha256_file(onnx_path)
        if actual != package.onnx_sha256:
            raise PackageError(
                f"the sha256 of {MODEL_FILE} does not match {META_FILE}",
                f"{onnx_path} is {actual}, model.json says {package.onnx_sha256}",
            )
    return package


def verify_streaming(folder: Path, spec: StreamingSpec) -> Path:
    """The step model's path, after checking it exists and its sha256 matches ``model.json``."""
    path = Path(folder) / spec.file
    if not path.is_file():
        raise PackageError(f"the step model {spec.file} is missing", str(path))
    actual = sha256_file(path)
    if actual != spec.sha256:
        raise PackageError(
            f"the sha256 of {spec.file} does not match {META_FILE} streaming.sha256",
            f"{path} is {actual}, model.json says {spec.sha256}",
        )
    return path


def write_package(
    folder: Path,
    package: ModelPackage,
    onnx_path: Path,
    assets: dict[str, Path] | None = None,
) -> ModelPackage:
    """Write a complete package atomically (temp folder + rename); fills sha256 and size.

    ``assets`` maps a file name inside the package to a source file to copy there.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it 0700; a non-root server (container) must read it
        shutil.copyfile(onnx_path, tmp / MODEL_FILE)
        for name, src in (assets or {}).items():
            shutil.copyfile(src, tmp / name)
        final = package.model_copy(
            update={
                "onnx_sha256": sha256_file(tmp / MODEL_FILE),
                "onnx_bytes": (tmp / MODEL_FILE).stat().st_size,
            }
        )
        text = json.dumps(final.model_dump(mode="json"), indent=2, sort_keys=False) + "\n"
        (tmp / META_FILE).write_text(text)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
