"""The Open Inference Protocol (KServe V2) inference request and response, transport-neutral.

Front ends decode their wire format into :class:`InferRequest` (REST JSON or binary in
:mod:`service.v2.codec`) and encode :class:`InferResponse` back; the data plane validates the
tensors against the model (:func:`bind_inputs`) and runs them. A request's *structure* (names,
shapes, datatypes, parameters) is checked while decoding, before anything uses it, so a
malformed request is a 400 naming the field and never an exception deeper down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from service.errors import BadRequest, bad_field
from service.package import TensorSpec

Tensors = dict[str, np.ndarray]

#: V2 datatype → little-endian numpy dtype (what may appear on the wire)
WIRE_DTYPES: dict[str, str] = {
    "BOOL": "|b1",
    "UINT8": "|u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "|i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
V2_DATATYPE = {np.dtype(v).newbyteorder("="): k for k, v in WIRE_DTYPES.items()}
#: element count limit of one declared tensor shape (larger cannot fit any accepted body)
MAX_ELEMENTS = 1 << 31


@dataclass(frozen=True, slots=True)
class InputTensor:
    """One decoded input: its declared name, datatype and shape, and the array they describe."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    array: np.ndarray


@dataclass(frozen=True, slots=True)
class RequestedOutput:
    name: str
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class InferRequest:
    inputs: list[InputTensor]
    #: None = every output of the model
    outputs: list[RequestedOutput] | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass(slots=True)
class InferResponse:
    model_name: str
    model_version: str
    outputs: list[tuple[str, np.ndarray]]
    parameters: dict[str, Any]
    id: str | None = None


@dataclass(frozen=True, slots=True)
class SequenceParams:
    """Triton's sequence parameters of a stateful request."""

    id: str
    start: bool
    end: bool


# ---- structure checks, shared by every wire format -------------------------------------------


def check_parameters(value: Any, where: str) -> dict[str, Any]:
    """A V2 ``parameters`` object: string keys, each value a string, number or boolean."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_field(BadRequest, f"{where}parameters", "must be a JSON object")
    for key, item in value.items():
        if not isinstance(item, str | int | float | bool):
            raise bad_field(BadRequest, f"{where}parameters.{key}", "must be a string, number or boolean")
    return value


def check_name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise bad_field(BadRequest, f"{where}name", "must be a non-empty string")
    return value


def check_datatype(value: Any, where: str) -> str:
    if value not in WIRE_DTYPES:
        raise bad_field(BadRequest, f"{where}datatype", f"must be one of {sorted(WIRE_DTYPES)}; got {value!r}")
    return str(value)


def check_shape(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value):
        raise bad_field(BadRequest, f"{where}shape", "must be a list of non-negative integers")
    if math.prod(value) > MAX_ELEMENTS:
        raise bad_field(BadRequest, f"{where}shape", f"must describe at most {MAX_ELEMENTS} elements")
    return tuple(value)


def check_outputs(value: Any) -> list[RequestedOutput] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise bad_field(BadRequest, "outputs", "must be a list")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise bad_field(BadRequest, f"outputs[{i}]", "must be a JSON object")
        out.append(
            RequestedOutput(
                check_name(item.get("name"), f"outputs[{i}]."),
                check_parameters(item.get("parameters"), f"outputs[{i}]."),
            )
        )
    return out


def sequence_of(request: InferRequest) -> SequenceParams | None:
    """The sequence a request belongs to, from Triton's parameters (id 0 or "" = none)."""
    params = request.parameters
    if "sequence_id" not in params:
        return None
    sid = params["sequence_id"]
    if isinstance(sid, bool) or not isinstance(sid, int | str) or (isinstance(sid, int) and sid < 0):
        raise bad_field(BadRequest, "parameters.sequence_id", "must be an unsigned integer or a string")
    if sid in (0, ""):
        return None
    flags = []
    for key in ("sequence_start", "sequence_end"):
        value = params.get(key, False)
        if not isinstance(value, bool):
            raise bad_field(BadRequest, f"parameters.{key}", "must be true or false")
        flags.append(value)
    return SequenceParams(str(sid), flags[0], flags[1])


# ---- binding a request to a model ------------------------------------------------------------


def _bind_shape(tensor: InputTensor, spec: TensorSpec, max_steps: int) -> tuple[int, ...]:
    shape = tensor.shape
    want = spec.shape
    if len(want) == 1 and len(shape) == 2 and shape[1] == 1:
        shape = shape[:1]  # Triton's reshape convention: a per-row scalar may come as [B, 1]
    if len(shape) != len(want) or any(w >= 0 and w != d for w, d in zip(want, shape, strict=True)):
        raise bad_field(BadRequest, f"{spec.name}.shape", f"must match {want} (-1 = any); got {list(tensor.shape)}")
    for axis, (w, d) in enumerate(zip(want, shape, strict=True)):
        if axis > 0 and w < 0 and not 1 <= d <= max_steps:
            raise bad_field(
                BadRequest, f"{spec.name}.shape", f"dimension {axis} (time steps) must be in [1, {max_steps}]; got {d}"
            )
    return shape


def bind_inputs(
    request: InferRequest, specs: list[TensorSpec], optional: frozenset[str], max_rows: int, max_steps: int
) -> Tensors:
    """The request's tensors as the model's feeds: every name, datatype and fixed dimension as
    declared, time steps within ``max_steps``, one batch size in [1, ``max_rows``], required
    inputs present, and floats finite *as the model's dtype* (what ``session.run`` will see)."""
    by_name = {s.name: s for s in specs}
    tensors: Tensors = {}
    for i, tensor in enumerate(request.inputs):
        spec = by_name.get(tensor.name)
        if spec is None:
            raise bad_field(BadRequest, f"inputs[{i}].name", f"must be one of {sorted(by_name)}; got {tensor.name!r}")
        if tensor.name in tensors:
            raise bad_field(BadRequest, f"inputs[{i}].name", f"input {tensor.name!r} given twice")
        if tensor.datatype != spec.datatype:
            raise bad_field(BadRequest, f"{spec.name}.datatype", f"must be {spec.datatype}; got {tensor.datatype!r}")
        array = tensor.array.reshape(_bind_shape(tensor, spec, max_steps))
        array = array.astype(array.dtype.newbyteorder("="), copy=False)
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise bad_field(BadRequest, f"{spec.name}.data", "values must be finite (no NaN or Inf)")
        tensors[tensor.name] = array
    missing = [s.name for s in specs if s.name not in tensors and s.name not in optional]
    if missing:
        raise bad_field(BadRequest, "inputs", f"missing required input(s) {missing}")
    batches = {t.shape[0] for t in tensors.values()}
    if len(batches) != 1 or not 1 <= batches.pop() <= max_rows:
        raise bad_field(BadRequest, "inputs", f"all inputs need the same batch size in [1, {max_rows}]")
    return tensors


def select_outputs(request: InferRequest, names: list[str]) -> list[str]:
    """The output names to return, in order; an unknown requested name is a 400."""
    if request.outputs is None:
        return names
    for i, out in enumerate(request.outputs):
        if out.name not in names:
            raise bad_field(BadRequest, f"outputs[{i}].name", f"must be one of {names}; got {out.name!r}")
    return [out.name for out in request.outputs]
