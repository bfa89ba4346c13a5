"""KServe V2 / Triton protobuf messages ↔ the data plane's transport-neutral types.

What :mod:`service.v2.codec` is for REST: :func:`decode_infer` turns a ``ModelInferRequest`` into
an :class:`~service.v2.types.InferRequest`, checking its structure with the same rules and
``field: rule`` messages as REST (:class:`BadRequest`, INVALID_ARGUMENT on the wire), and
:func:`encode_infer` turns the answer into a ``ModelInferResponse``. Tensors arrive either as
``raw_input_contents`` (little-endian bytes, one entry per input: what tritonclient and
perf_analyzer send) or as typed ``contents``; answers always go back as ``raw_output_contents``,
as Triton's do. Metadata, configuration and statistics are the REST JSON documents parsed into
their messages, so both protocols describe a model from one source (:mod:`service.v2.config`).
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

import numpy as np
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

from service.errors import BadRequest, bad_field
from service.grpc.generated import grpc_service_pb2 as pb
from service.grpc.generated import model_config_pb2 as config_pb
from service.v2.types import (
    V2_DATATYPE,
    WIRE_DTYPES,
    InferRequest,
    InferResponse,
    InputTensor,
    RequestedOutput,
    check_datatype,
    check_name,
    check_parameters,
    check_shape,
)

M = TypeVar("M", bound=Message)

#: V2 datatype → the ``InferTensorContents`` field that carries it typed (FP16 travels raw only)
CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
}
#: Paths of REST config fields whose names Triton's ModelConfig uses with another type: left out
#: over gRPC. ``runtime`` is Triton's backend library (a string; ours is the runtime in force);
#: ``optimization.graph.level`` is an int32 there (ours names onnxruntime's level, e.g. "all").
REST_ONLY_CONFIG_PATHS = (("runtime",), ("optimization", "graph"))


def parse(message_type: type[M], data: bytes) -> M:
    """A request message from the wire; bytes that are not one are the client's error (400)."""
    try:
        return message_type.FromString(data)
    except DecodeError:
        raise bad_field(BadRequest, "body", f"not a valid {message_type.DESCRIPTOR.name} protobuf message") from None


def _parameters(params: Any, where: str) -> dict[str, Any]:
    """A ``map<string, InferParameter>`` as the plain values REST parameters hold."""
    out: dict[str, Any] = {}
    for key, param in params.items():
        kind = param.WhichOneof("parameter_choice")
        if kind is None:
            raise bad_field(BadRequest, f"{where}parameters.{key}", "must hold a value")
        out[key] = getattr(param, kind)
    return check_parameters(out, where)


def _typed(tensor: Any, where: str, datatype: str, shape: tuple[int, ...]) -> np.ndarray:
    field = CONTENTS_FIELD.get(datatype)
    if field is None:
        raise bad_field(BadRequest, f"{where}contents", f"{datatype} travels in raw_input_contents only")
    values = getattr(tensor.contents, field)
    count = math.prod(shape)
    if len(values) != count:
        raise bad_field(
            BadRequest, f"{where}contents", f"has {len(values)} {field} values; shape {list(shape)} needs {count}"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(values).astype(np.dtype(WIRE_DTYPES[datatype])).reshape(shape)


def _raw(data: bytes, where: str, datatype: str, shape: tuple[int, ...]) -> np.ndarray:
    dtype = np.dtype(WIRE_DTYPES[datatype])
    count = math.prod(shape)
    if len(data) != count * dtype.itemsize:
        raise bad_field(
            BadRequest, where, f"has {len(data)} bytes; must be {count * dtype.itemsize} ({count} × {datatype})"
        )
    return np.frombuffer(data, dtype=dtype, count=count).reshape(shape)


def decode_infer(msg: pb.ModelInferRequest) -> InferRequest:
    """A ``ModelInferRequest`` → :class:`InferRequest` (every tensor decoded into numpy).

    As in Triton, either every input travels in ``raw_input_contents`` (in input order) or none
    does; an input with raw bytes may not also carry typed contents.
    """
    if not msg.inputs:
        raise bad_field(BadRequest, "inputs", "must be a non-empty list of tensors")
    raw = msg.raw_input_contents
    if raw and len(raw) != len(msg.inputs):
        raise bad_field(
            BadRequest,
            "raw_input_contents",
            f"has {len(raw)} entries; every one of the {len(msg.inputs)} inputs needs one",
        )
    inputs = []
    for i, tensor in enumerate(msg.inputs):
        name = check_name(tensor.name, f"inputs[{i}].")
        where = f"{name}."
        datatype = check_datatype(tensor.datatype, where)
        shape = check_shape(list(tensor.shape), where)
        _parameters(tensor.parameters, where)
        if raw:
            if tensor.HasField("contents"):
                raise bad_field(BadRequest, f"{where}contents", "must be empty when raw_input_contents is used")
            array = _raw(raw[i], f"raw_input_contents[{i}]", datatype, shape)
        else:
            array = _typed(tensor, where, datatype, shape)
        inputs.append(InputTensor(name, datatype, shape, array))
    outputs = [
        RequestedOutput(check_name(o.name, f"outputs[{i}]."), _parameters(o.parameters, f"outputs[{i}]."))
        for i, o in enumerate(msg.outputs)
    ]
    return InferRequest(inputs, outputs or None, _parameters(msg.parameters, ""), msg.id or None)


def _parameter(value: Any) -> pb.InferParameter:
    if isinstance(value, bool):
        return pb.InferParameter(bool_param=value)
    if isinstance(value, int):
        return pb.InferParameter(int64_param=value) if value < 1 << 63 else pb.InferParameter(uint64_param=value)
    if isinstance(value, float):
        return pb.InferParameter(double_param=value)
    return pb.InferParameter(string_param=str(value))


def encode_infer(response: InferResponse) -> pb.ModelInferResponse:
    """:class:`InferResponse` → ``ModelInferResponse``: outputs as little-endian raw contents."""
    out = pb.ModelInferResponse(
        model_name=response.model_name, model_version=response.model_version, id=response.id or ""
    )
    for key, value in response.parameters.items():
        out.parameters[key].CopyFrom(_parameter(value))
    for name, array in response.outputs:
        arr = np.ascontiguousarray(array)
        out.outputs.add(name=name, datatype=V2_DATATYPE[arr.dtype.newbyteorder("=")], shape=arr.shape)
        out.raw_output_contents.append(arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes())
    return out


def from_json(document: dict[str, Any], message: M) -> M:
    """A REST document into its protobuf message: the same facts, keys the message lacks ignored
    (REST-only extras such as a model's ``state`` or ``dynamic_batching.max_batch_rows``)."""
    return json_format.ParseDict(document, message, ignore_unknown_fields=True)


def _without(document: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """``document`` less the field at ``path`` (copies only along the path; the rest is shared)."""
    head, *rest = path
    if head not in document:
        return document
    if not rest:
        return {k: v for k, v in document.items() if k != head}
    return {**document, head: _without(document[head], tuple(rest))}


def model_config(document: dict[str, Any]) -> pb.ModelConfigResponse:
    """The REST model configuration as Triton's ``ModelConfig``, less the REST-only fields."""
    for path in REST_ONLY_CONFIG_PATHS:
        document = _without(document, path)
    return pb.ModelConfigResponse(config=from_json(document, config_pb.ModelConfig()))
