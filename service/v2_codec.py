"""KServe V2 / Triton tensors on the wire: JSON ``data`` and the ``binary_tensor_data`` extension.

Decoding validates every input against the package's ``inputs`` (names, datatype, rank, fixed
dims, element count, NaN/Inf) and raises :class:`BadRequest` (400, Triton's INVALID_ARG) naming
the tensor and the rule. Binary bodies are JSON header + raw little-endian tensors, with
``Inference-Header-Content-Length`` giving the header size; tritonclient sends that by default.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson

from service.errors import BadRequest, bad_field
from service.package import TensorSpec
from service.runtime import Tensors
from service.schemas import parse_json

#: V2 datatype → little-endian numpy dtype (what may appear on the wire).
WIRE_DTYPES: dict[str, str] = {
    "BOOL": "|b1", "UINT8": "|u1", "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8",
    "INT8": "|i1", "INT16": "<i2", "INT32": "<i4", "INT64": "<i8",
    "FP16": "<f2", "FP32": "<f4", "FP64": "<f8",
}
_DTYPE_TO_V2 = {np.dtype(v).newbyteorder("="): k for k, v in WIRE_DTYPES.items()}
_JSON_KINDS = {"f": "fiu", "i": "iu", "u": "iu", "b": "b"}


def split_body(body: bytes, header_length: str | None) -> tuple[dict[str, Any], bytes]:
    """Body → (JSON header, binary tail) per the binary extension."""
    if header_length is None:
        header, tail = body, b""
    else:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise bad_field(
                BadRequest, "Inference-Header-Content-Length",
                f"must be an integer ≤ the body size ({len(body)} bytes); got {header_length!r}",
            )
        n = int(header_length)
        header, tail = body[:n], body[n:]
    request = parse_json(header, field="body")
    if not isinstance(request, dict):
        raise bad_field(BadRequest, "body", "the inference request must be a JSON object")
    return request, tail


def _params(obj: dict[str, Any], where: str) -> dict[str, Any]:
    params = obj.get("parameters") or {}
    if not isinstance(params, dict):
        raise bad_field(BadRequest, f"{where}parameters", "must be a JSON object")
    return params


def _check_shape(name: str, shape: Any, spec: TensorSpec) -> list[int]:
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise bad_field(BadRequest, f"{name}.shape", "must be a list of non-negative integers")
    want = spec.shape
    if len(want) == 1 and len(shape) == 2 and shape[1] == 1:
        shape = shape[:1]  # Triton's reshape convention: a per-row scalar may come as [B, 1]
    fixed_ok = len(shape) == len(want) and all(w < 0 or w == d for w, d in zip(want, shape, strict=True))
    if not fixed_ok:
        raise bad_field(BadRequest, f"{name}.shape", f"must match {want} (-1 = any); got {shape}")
    return shape


def _decode_one(item: dict[str, Any], spec: TensorSpec, tail: bytes, offset: int) -> tuple[np.ndarray, int]:
    name = spec.name
    if item.get("datatype") != spec.datatype:
        raise bad_field(BadRequest, f"{name}.datatype", f"must be {spec.datatype}; got {item.get('datatype')!r}")
    shape = _check_shape(name, item.get("shape"), spec)
    count = math.prod(shape)
    dtype = np.dtype(WIRE_DTYPES[spec.datatype])
    params = _params(item, f"{name}.")
    if "binary_data_size" in params:
        size = params["binary_data_size"]
        if not isinstance(size, int) or size != count * dtype.itemsize or offset + size > len(tail):
            raise bad_field(
                BadRequest, f"{name}.parameters.binary_data_size",
                f"must be {count * dtype.itemsize} bytes ({count} × {spec.datatype}) within the body",
            )
        arr = np.frombuffer(tail, dtype=dtype, count=count, offset=offset).reshape(shape)
        offset += size
    elif "data" in item:
        try:
            raw = np.asarray(item["data"])
        except ValueError:
            raise bad_field(BadRequest, f"{name}.data", "must be a flat or regularly nested list of numbers") from None
        if raw.size and raw.dtype.kind not in _JSON_KINDS.get(dtype.kind, ""):
            raise bad_field(BadRequest, f"{name}.data", f"must hold {spec.datatype} numbers")
        if raw.size != count:
            raise bad_field(BadRequest, f"{name}.data", f"has {raw.size} elements; shape {shape} needs {count}")
        arr = raw.astype(dtype).reshape(shape)
    else:
        raise bad_field(BadRequest, f"{name}.data", "each input needs 'data' or parameters.binary_data_size")
    if dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise bad_field(BadRequest, f"{name}.data", "values must be finite (no NaN or Inf)")
    return arr.astype(dtype.newbyteorder("="), copy=False), offset


def decode_inputs(
    request: dict[str, Any], tail: bytes, specs: list[TensorSpec], optional: set[str], max_batch: int
) -> Tensors:
    items = request.get("inputs")
    if not isinstance(items, list) or not items:
        raise bad_field(BadRequest, "inputs", "must be a non-empty list of tensors")
    by_name = {s.name: s for s in specs}
    tensors: Tensors = {}
    offset = 0
    for i, item in enumerate(items):
        name = item.get("name") if isinstance(item, dict) else None
        if name not in by_name:
            raise bad_field(BadRequest, f"inputs[{i}].name", f"must be one of {sorted(by_name)}; got {name!r}")
        if name in tensors:
            raise bad_field(BadRequest, f"inputs[{i}].name", f"input {name!r} given twice")
        tensors[name], offset = _decode_one(item, by_name[name], tail, offset)
    if offset != len(tail):
        raise bad_field(BadRequest, "body", f"{len(tail) - offset} binary bytes not claimed by any input")
    missing = [s.name for s in specs if s.name not in tensors and s.name not in optional]
    if missing:
        raise bad_field(BadRequest, "inputs", f"missing required input(s) {missing}")
    batches = {t.shape[0] for t in tensors.values()}
    if len(batches) != 1 or not 1 <= batches.pop() <= max_batch:
        raise bad_field(BadRequest, "inputs", f"all inputs need the same batch size in [1, {max_batch}]")
    return tensors


def requested_outputs(request: dict[str, Any], names: list[str]) -> list[tuple[str, bool]]:
    """``[(output name, as binary)]``; unlisted outputs follow ``parameters.binary_data_output``."""
    default_binary = bool(_params(request, "").get("binary_data_output", False))
    listed = request.get("outputs")
    if listed is None:
        return [(n, default_binary) for n in names]
    if not isinstance(listed, list):
        raise bad_field(BadRequest, "outputs", "must be a list")
    out = []
    for i, item in enumerate(listed):
        name = item.get("name") if isinstance(item, dict) else None
        if name not in names:
            raise bad_field(BadRequest, f"outputs[{i}].name", f"must be one of {names}; got {name!r}")
        out.append((name, bool(_params(item, f"outputs[{i}].").get("binary_data", default_binary))))
    return out


def encode_outputs(outputs: Tensors, wanted: list[tuple[str, bool]]) -> tuple[list[dict[str, Any]], list[bytes]]:
    """Output tensors → V2 output entries and the binary chunks (in order) to append."""
    entries, chunks = [], []
    for name, binary in wanted:
        arr = np.ascontiguousarray(outputs[name])
        entry: dict[str, Any] = {"name": name, "datatype": _DTYPE_TO_V2[arr.dtype], "shape": list(arr.shape)}
        if binary:
            data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
            entry["parameters"] = {"binary_data_size": len(data)}
            chunks.append(data)
        else:
            entry["data"] = arr.ravel().tolist()
        entries.append(entry)
    return entries, chunks


def encode_response(header: dict[str, Any], chunks: list[bytes]) -> tuple[bytes, dict[str, str]]:
    """Response body and extra headers (``Inference-Header-Content-Length`` when binary)."""
    head = orjson.dumps(header)
    if not chunks:
        return head, {}
    return b"".join([head, *chunks]), {"Inference-Header-Content-Length": str(len(head))}
