"""KServe V2 / Triton tensors on the REST wire: JSON ``data`` and the ``binary_tensor_data`` extension.

:func:`decode_request` turns a request body into an :class:`~service.v2.types.InferRequest`,
checking its whole structure (names, shapes, datatypes, parameters, element counts) and raising
:class:`BadRequest` (400, Triton's INVALID_ARG) naming the field. Binary bodies are a JSON header
plus raw little-endian tensors, with ``Inference-Header-Content-Length`` giving the header size;
tritonclient sends that by default.

JSON is parsed with simdjson, and each input's numeric ``data`` array is read straight into numpy
(``as_buffer``) without first becoming a list of Python floats: for a keywords request (3,920
values) that list and its conversion were a third of the server's time (``docs/performance.md``).
Anything simdjson will not read that way (strings, mixed types, integers beyond 64 bits, malformed
JSON) takes the plain path: orjson and ``np.asarray``, with the same checks and messages.
"""

from __future__ import annotations

import math
import threading
from typing import Any, Literal

import numpy as np
import orjson
import simdjson

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
#: numpy kind of a wire datatype → simdjson's ``as_buffer`` type and the numpy dtype it yields
_BUFFERS: dict[str, tuple[Literal["d", "i", "u"], type[np.generic]]] = {
    "f": ("d", np.float64),
    "i": ("i", np.int64),
    "u": ("u", np.uint64),
}
_local = threading.local()


class NumericData:
    """An input's ``data`` array that simdjson already read into numbers (flattened, row-major)."""

    __slots__ = ("values",)

    def __init__(self, values: np.ndarray) -> None:
        self.values = values


def _parser() -> simdjson.Parser:
    """One parser per thread: a parser is reusable but not shareable, and decoding may run on a
    worker thread (``decode_offload_bytes``)."""
    parser: simdjson.Parser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = simdjson.Parser()
    return parser


def _python(value: Any) -> Any:
    if isinstance(value, simdjson.Object):
        return value.as_dict()
    if isinstance(value, simdjson.Array):
        return value.as_list()
    return value


def _numeric(data: Any, datatype: Any) -> Any:
    """``data`` as :class:`NumericData` when it is an array of numbers of the datatype's kind."""
    if not isinstance(data, simdjson.Array) or not isinstance(datatype, str) or datatype not in WIRE_DTYPES:
        return _python(data)
    buffer = _BUFFERS.get(np.dtype(WIRE_DTYPES[datatype]).kind)
    if buffer is None:
        return data.as_list()
    try:
        return NumericData(np.frombuffer(data.as_buffer(of_type=buffer[0]), dtype=buffer[1]))
    except TypeError:  # not all numbers of that kind: the plain path explains why
        return data.as_list()


def parse_header(header: bytes) -> Any:
    """The JSON header as Python values, each numeric input ``data`` already a numpy array."""
    try:
        return _walk(_parser().parse(header))
    except (ValueError, RuntimeError, TypeError, KeyError):  # malformed, empty, big integers: orjson decides
        _local.parser = None  # a parser that failed mid-document may still hold it: start afresh
        return parse_json(header, field="body")


def _walk(doc: Any) -> Any:
    if not isinstance(doc, simdjson.Object):
        return _python(doc)
    out: dict[str, Any] = {}
    for key in doc.keys():  # noqa: SIM118 (simdjson's items() would turn every array into a list)
        value = doc[key]
        if key == "inputs" and isinstance(value, simdjson.Array):
            out[key] = [_input(item) for item in value]
        else:
            out[key] = _python(value)
    return out


def _input(item: Any) -> Any:
    if not isinstance(item, simdjson.Object):
        return _python(item)
    datatype = item["datatype"] if "datatype" in item else None  # noqa: SIM401 (simdjson get() raises)
    return {k: _numeric(item[k], datatype) if k == "data" else _python(item[k]) for k in item.keys()}  # noqa: SIM118


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
    return parse_header(header), tail


def _json_data(data: Any, where: str, datatype: str, shape: tuple[int, ...]) -> np.ndarray:
    count = math.prod(shape)
    if isinstance(data, NumericData):
        if data.values.size != count:
            raise bad_field(
                BadRequest, f"{where}data", f"has {data.values.size} elements; shape {list(shape)} needs {count}"
            )
        return _cast(data.values, datatype, where).reshape(shape)
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
    return _cast(raw, datatype, where).reshape(shape)


def _cast(values: np.ndarray, datatype: str, where: str) -> np.ndarray:
    """``values`` as the wire ``datatype``. An integer outside the datatype's range is a 400:
    numpy's cast would wrap it (INT8 300 → 44) and the model would see a different number. A float
    beyond FP32 becomes inf and passes, as non-finite floats do (Triton passes them through)."""
    dtype = np.dtype(WIRE_DTYPES[datatype])
    # already of the datatype (INT64 ids parsed as int64): in range by construction, skip the scans
    if dtype.kind in "iu" and values.size and values.dtype.kind in "iu" and values.dtype != dtype:
        info = np.iinfo(dtype)
        if int(values.min()) < info.min or int(values.max()) > info.max:
            raise bad_field(BadRequest, f"{where}data", f"values out of range for {datatype} [{info.min}, {info.max}]")
    with np.errstate(over="ignore", invalid="ignore"):
        return values.astype(dtype)


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
