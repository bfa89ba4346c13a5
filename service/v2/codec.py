"""KServe V2 / Triton tensors on the REST wire: JSON ``data`` and the ``binary_tensor_data`` extension.

:func:`decode_request` turns a request body into an :class:`~service.v2.types.InferRequest`,
checking its whole structure (names, shapes, datatypes, parameters, element counts) and raising
:class:`BadRequest` (400, Triton's INVALID_ARG) naming the field. Binary bodies are a JSON header
plus raw little-endian tensors, with ``Inference-Header-Content-Length`` giving the header size;
tritonclient sends that by default.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson

from service.errors import BadRequest, bad_field
from service.tasks.base import parse_json
from service.v2.types import (
    V2_DATATYPE,
    WIRE_DTYPES,
    InferRequest,
    InferResponse,
    InputTensor,
    check_datatype,
    check_name,
    check_outputs,
    check_parameters,
    check_shape,
)

#: which JSON number kinds a datatype's ``data`` may hold (numpy dtype kind of the parsed list)
_JSON_KINDS = {"f": "fiu", "i": "iu", "u": "iu", "b": "b"}


def split_body(body: bytes, header_length: str | None) -> tuple[Any, bytes]:
    """Body → (parsed JSON header, binary tail) per the binary extension."""
    if header_length is None:
        header, tail = body, b""
    else:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise bad_field(
                BadRequest,
                "Inference-Header-Content-Length",
                f"must be an integer ≤ the body size ({len(body)} bytes); got {header_length!r}",
            )
        n = int(header_length)
        header, tail = body[:n], body[n:]
    return parse_json(header, field="body"), tail


def _json_data(data: Any, where: str, datatype: str, shape: tuple[int, ...]) -> np.ndarray:
    count = math.prod(shape)
    if not isinstance(data, list):
        data = [data]
    if data and not isinstance(data[0], list) and len(data) != count:  # a flat list: count before converting
        raise bad_field(BadRequest, f"{where}data", f"has {len(data)} elements; shape {list(shape)} needs {count}")
    try:
        raw = np.asarray(data)
    except (ValueError, OverflowError):
        raise bad_field(BadRequest, f"{where}data", "must be a flat or regularly nested list of numbers") from None
    dtype = np.dtype(WIRE_DTYPES[datatype])
    if raw.size and raw.dtype.kind not in _JSON_KINDS.get(dtype.kind, ""):
        raise bad_field(BadRequest, f"{where}data", f"must hold {datatype} values")
    if raw.size != count:
        raise bad_field(BadRequest, f"{where}data", f"has {raw.size} elements; shape {list(shape)} needs {count}")
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            return raw.astype(dtype).reshape(shape)
    except OverflowError:
        raise bad_field(BadRequest, f"{where}data", f"values out of range for {datatype}") from None


def _binary_data(size: Any, where: str, datatype: str, shape: tuple[int, ...], tail: bytes, offset: int) -> np.ndarray:
    count = math.prod(shape)
    dtype = np.dtype(WIRE_DTYPES[datatype])
    if (
        isinstance(size, bool)
        or not isinstance(size, int)
        or size != count * dtype.itemsize
        or offset + size > len(tail)
    ):
        raise bad_field(
            BadRequest,
            f"{where}parameters.binary_data_size",
            f"must be {count * dtype.itemsize} bytes ({count} × {datatype}) within the body",
        )
    return np.frombuffer(tail, dtype=dtype, count=count, offset=offset).reshape(shape)


def decode_request(body: bytes, header_length: str | None) -> InferRequest:
    """A REST infer body → :class:`InferRequest` (every tensor decoded into numpy)."""
    request, tail = split_body(body, header_length)
    if not isinstance(request, dict):
        raise bad_field(BadRequest, "body", "the inference request must be a JSON object")
    rid = request.get("id")
    if rid is not None and (isinstance(rid, bool) or not isinstance(rid, str | int | float)):
        raise bad_field(BadRequest, "id", "must be a string")
    items = request.get("inputs")
    if not isinstance(items, list) or not items:
        raise bad_field(BadRequest, "inputs", "must be a non-empty list of tensors")
    inputs = []
    offset = 0
    for i, item in enumerate(items):
        where = f"inputs[{i}]."
        if not isinstance(item, dict):
            raise bad_field(BadRequest, f"inputs[{i}]", "must be a JSON object")
        name = check_name(item.get("name"), where)
        where = f"{name}."
        datatype = check_datatype(item.get("datatype"), where)
        shape = check_shape(item.get("shape"), where)
        params = check_parameters(item.get("parameters"), where)
        if "binary_data_size" in params:
            array = _binary_data(params["binary_data_size"], where, datatype, shape, tail, offset)
            offset += array.nbytes
        elif "data" in item and item["data"] is not None:
            array = _json_data(item["data"], where, datatype, shape)
        else:
            raise bad_field(BadRequest, f"{where}data", "each input needs 'data' or parameters.binary_data_size")
        inputs.append(InputTensor(name, datatype, shape, array))
    if offset != len(tail):
        raise bad_field(BadRequest, "body", f"{len(tail) - offset} binary bytes not claimed by any input")
    return InferRequest(
        inputs,
        check_outputs(request.get("outputs")),
        check_parameters(request.get("parameters"), ""),
        None if rid is None else str(rid),
    )


def encode_response(response: InferResponse, request: InferRequest) -> tuple[bytes, dict[str, str], str]:
    """Response body, extra headers (``Inference-Header-Content-Length`` when binary) and media type.

    An output goes back as binary when its ``parameters.binary_data`` says so, else when the
    request's ``parameters.binary_data_output`` does (default: JSON).
    """
    default = bool(request.parameters.get("binary_data_output", False))
    binary = {o.name: bool(o.parameters.get("binary_data", default)) for o in request.outputs or []}
    entries, chunks = [], []
    for name, array in response.outputs:
        arr = np.ascontiguousarray(array)
        entry: dict[str, Any] = {
            "name": name,
            "datatype": V2_DATATYPE[arr.dtype.newbyteorder("=")],
            "shape": list(arr.shape),
        }
        if binary.get(name, default):
            data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
            entry["parameters"] = {"binary_data_size": len(data)}
            chunks.append(data)
        else:
            entry["data"] = arr.ravel().tolist()
        entries.append(entry)
    header: dict[str, Any] = {"model_name": response.model_name, "model_version": response.model_version}
    if response.id is not None:
        header["id"] = response.id
    header["parameters"] = response.parameters
    header["outputs"] = entries
    head = orjson.dumps(header)
    if not chunks:
        return head, {}, "application/json"
    return b"".join([head, *chunks]), {"Inference-Header-Content-Length": str(len(head))}, "application/octet-stream"
