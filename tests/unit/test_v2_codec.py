"""service/v2/codec.py in-process. Binary bodies are built, and binary responses read back, by
tritonclient's own (static) request and response code, an implementation independent of ours;
JSON bodies and the expected arrays are written by hand."""

from __future__ import annotations

import json
import threading
import warnings
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton

from service.errors import BadRequest
from service.v2.codec import NumericData, _parser, decode_request, encode_response, parse_header, split_body
from service.v2.types import InferRequest, InferResponse, RequestedOutput


def rule_of(body: bytes, header_length: str | None = None) -> tuple[str | None, str | None]:
    with pytest.raises(BadRequest) as info:
        decode_request(body, header_length)
    return info.value.field, info.value.rule


def body(*inputs: Any, **top: Any) -> bytes:
    return json.dumps({**top, "inputs": list(inputs)}).encode()


def inp(data: Any, shape: list[int], datatype: str = "FP32", name: str = "x", **extra: Any) -> dict[str, Any]:
    return {"name": name, "shape": shape, "datatype": datatype, "data": data, **extra}


# ---- JSON data --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("datatype", "data", "dtype", "expected"),
    [
        ("FP32", [1.5, 2, -3.25, 4], np.float32, [[1.5, 2.0], [-3.25, 4.0]]),
        ("FP64", [[0.1, 0.2], [0.3, 0.4]], np.float64, [[0.1, 0.2], [0.3, 0.4]]),
        ("FP16", [0.5, 1, 2, 65504], np.float16, [[0.5, 1.0], [2.0, 65504.0]]),
        ("INT64", [1, -2, 3, 9007199254740993], np.int64, [[1, -2], [3, 9007199254740993]]),
        ("INT32", [[7, -8], [9, 10]], np.int32, [[7, -8], [9, 10]]),
        ("INT8", [1, 2, 3, -4], np.int8, [[1, 2], [3, -4]]),
        ("UINT64", [18446744073709551615, 0, 1, 2], np.uint64, [[18446744073709551615, 0], [1, 2]]),
        ("UINT8", [0, 255, 1, 2], np.uint8, [[0, 255], [1, 2]]),
        ("BOOL", [True, False, False, True], np.bool_, [[True, False], [False, True]]),
    ],
)
def test_json_data_of_each_kind(datatype: str, data: list[Any], dtype: type, expected: list[Any]) -> None:
    req = decode_request(body(inp(data, [2, 2], datatype)), None)
    (tensor,) = req.inputs
    assert (tensor.name, tensor.datatype, tensor.shape) == ("x", datatype, (2, 2))
    assert tensor.array.dtype == np.dtype(dtype) and tensor.array.shape == (2, 2)
    assert tensor.array.tolist() == expected


def test_numbers_are_read_straight_into_numpy() -> None:
    parsed = parse_header(body(inp([1, 2.5], [2]), inp([1, 2], [2], "INT64", "i"), inp([3], [1], "UINT32", "u")))
    datas = [item["data"] for item in parsed["inputs"]]
    assert all(isinstance(d, NumericData) for d in datas)
    assert datas[0].values.dtype == np.float64 and datas[0].values.tolist() == [1.0, 2.5]
    assert datas[1].values.dtype == np.int64 and datas[1].values.tolist() == [1, 2]
    assert datas[2].values.dtype == np.uint64 and datas[2].values.tolist() == [3]


def test_what_simdjson_will_not_read_as_numbers_takes_the_plain_path() -> None:
    parsed = parse_header(
        body(
            inp([True], [1], "BOOL"),
            inp([1, "a"], [2], "FP32", "s"),
            inp([1.5], [1], "INT64", "f"),
            inp([1], [1], "NOPE", "n"),
            {"name": "d", "data": [1]},
            inp([2.5], [1], "FP64", "ok"),
        )
    )
    assert [item["data"] for item in parsed["inputs"][:-1]] == [[True], [1, "a"], [1.5], [1], [1]]
    # only those inputs: the numeric one beside them is still read straight into numpy
    assert isinstance(parsed["inputs"][-1]["data"], NumericData)
    # a negative number for an unsigned type: simdjson will not read it as one, the plain path decides
    assert parse_header(body(inp([-1], [1], "UINT8")))["inputs"][0]["data"] == [-1]


def test_parse_header_gives_plain_python_values_outside_the_inputs() -> None:
    parsed = parse_header(
        b'{"id": "r", "parameters": {"a": [1, {"b": 2}]}, "outputs": [{"name": "y"}], '
        b'"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1],'
        b' "parameters": {"k": true}}]}'
    )
    assert parsed["id"] == "r" and parsed["parameters"] == {"a": [1, {"b": 2}]}
    assert parsed["outputs"] == [{"name": "y"}]
    assert parsed["inputs"][0]["parameters"] == {"k": True} and parsed["inputs"][0]["shape"] == [1]
    assert type(parsed) is dict and type(parsed["outputs"]) is list
    assert parse_header(b"[1, 2]") == [1, 2] and parse_header(b'"s"') == "s"
    assert parse_header(b'{"inputs": 5}') == {"inputs": 5}
    assert parse_header(b'{"inputs": [5, [1]]}') == {"inputs": [5, [1]]}


def test_malformed_or_empty_json_is_a_400_and_the_parser_recovers() -> None:
    assert rule_of(b'{"inputs": [') == ("body", "valid JSON (RFC 8259)")
    assert rule_of(b"") == ("body", "non-empty JSON")
    # an integer beyond 64 bits: a fine FP64, not an INT64
    big = b'{"inputs": [{"name": "x", "shape": [1], "datatype": "%s", "data": [123456789012345678901234567890]}]}'
    assert decode_request(big % b"FP64", None).inputs[0].array.tolist() == [1.2345678901234568e29]
    assert rule_of(big % b"INT64") == ("x.data", "must hold INT64 values")
    assert decode_request(body(inp([1], [1])), None).inputs[0].array.tolist() == [1.0]


def test_one_parser_per_thread() -> None:
    mine = _parser()
    assert _parser() is mine
    other: list[object] = []
    t = threading.Thread(target=lambda: other.append(_parser()))
    t.start()
    t.join()
    assert other[0] is not mine


def test_overflow_to_inf_is_passed_on_without_a_numpy_warning() -> None:
    """V2 carries tensors: a value beyond the datatype's range becomes inf, as Triton passes it."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fast = decode_request(body(inp([1e300, 1], [2])), None).inputs[0].array  # read straight into numpy
        assert fast.dtype == np.float32 and fast.tolist() == [float("inf"), 1.0]
        # a 30-digit integer: not a 64-bit number, so the plain path
        plain = (
            b'{"inputs": [{"name": "x", "shape": [2], "datatype": "FP16",'
            b' "data": [123456789012345678901234567890, 1]}]}'
        )
        assert not isinstance(parse_header(plain)["inputs"][0]["data"], NumericData)
        assert decode_request(plain, None).inputs[0].array.tolist() == [float("inf"), 1.0]


def test_json_data_rules() -> None:
    assert rule_of(body(inp([1, 2, 3], [2, 2]))) == ("x.data", "has 3 elements; shape [2, 2] needs 4")  # fast path
    assert rule_of(body(inp([1, "2", 3], [2, 2]))) == ("x.data", "has 3 elements; shape [2, 2] needs 4")  # plain
    assert rule_of(body(inp([[1, "a"], [3]], [2, 2]))) == (
        "x.data",
        "must be a flat or regularly nested list of numbers",
    )
    assert rule_of(body(inp([[1, 2, 3]], [2, 2]))) == ("x.data", "has 3 elements; shape [2, 2] needs 4")
    # BOOL takes the plain path; a nested list is counted after conversion
    assert rule_of(body(inp([[True, False, True]], [2, 2], "BOOL"))) == (
        "x.data",
        "has 3 elements; shape [2, 2] needs 4",
    )
    assert rule_of(body(inp(["a", "b"], [2]))) == ("x.data", "must hold FP32 values")
    assert rule_of(body(inp([1.5, 2], [2], "INT32"))) == ("x.data", "must hold INT32 values")
    assert rule_of(body(inp([1, 0], [2], "BOOL"))) == ("x.data", "must hold BOOL values")
    # integers outside the datatype's range are refused, never wrapped (INT8 300 would be 44)
    assert rule_of(body(inp([300, 1], [2], "INT8"))) == ("x.data", "values out of range for INT8 [-128, 127]")
    assert rule_of(body(inp([-1, 1], [2], "UINT8"))) == ("x.data", "values out of range for UINT8 [0, 255]")
    # beyond 64 bits numpy holds Python ints (object), which is not an INT64 kind
    assert rule_of(body(inp([18446744073709551615, 1], [2], "INT64"))) == ("x.data", "must hold INT64 values")
    assert rule_of(body(inp([9223372036854775808], [1], "INT64")))[1] == (
        "values out of range for INT64 [-9223372036854775808, 9223372036854775807]"
    )
    assert rule_of(body(inp([2**31, 1], [2], "INT32")))[1] == "values out of range for INT32 [-2147483648, 2147483647]"
    bounds = decode_request(body(inp([-128, 127], [2], "INT8")), None).inputs[0].array
    assert bounds.tolist() == [-128, 127] and bounds.dtype == np.int8
    # a single number stands for a one-element tensor
    assert decode_request(body(inp(5, [1, 1])), None).inputs[0].array.tolist() == [[5.0]]
    assert rule_of(body(inp(5, [2]))) == ("x.data", "has 1 elements; shape [2] needs 2")
    # an empty tensor
    empty = decode_request(body(inp([], [0, 3])), None).inputs[0].array
    assert empty.shape == (0, 3) and empty.dtype == np.float32


def test_request_structure_rules() -> None:
    good = inp([1], [1])
    assert rule_of(b"[1]") == ("body", "the inference request must be a JSON object")
    for rid in (True, [1], {"a": 1}):
        assert rule_of(body(good, id=rid)) == ("id", "must be a string")
    not_a_list: list[Any] = [[], {}, None, "x"]
    for inputs in not_a_list:
        assert rule_of(json.dumps({"inputs": inputs}).encode()) == ("inputs", "must be a non-empty list of tensors")
    assert rule_of(json.dumps({}).encode()) == ("inputs", "must be a non-empty list of tensors")
    assert rule_of(body(good, [1])) == ("inputs[1]", "must be a JSON object")
    assert rule_of(body(good, {"shape": [1], "datatype": "FP32", "data": [1]})) == (
        "inputs[1].name",
        "must be a non-empty string",
    )
    assert rule_of(body(inp([1], [1], "FP8"))) == (
        "x.datatype",
        "must be one of ['BOOL', 'FP16', 'FP32', 'FP64', 'INT16', 'INT32', 'INT64', 'INT8', 'UINT16', 'UINT32', "
        "'UINT64', 'UINT8']; got 'FP8'",
    )
    assert rule_of(body(inp([1], [-1]))) == ("x.shape", "must be a list of non-negative integers")
    assert rule_of(body(inp([1], [1], parameters=[1]))) == ("x.parameters", "must be a JSON object")
    assert rule_of(body({"name": "x", "shape": [1], "datatype": "FP32"})) == (
        "x.data",
        "each input needs 'data' or parameters.binary_data_size",
    )
    assert rule_of(body(inp(None, [1]))) == ("x.data", "each input needs 'data' or parameters.binary_data_size")
    assert rule_of(body(good, outputs={"name": "y"})) == ("outputs", "must be a list")
    assert rule_of(body(good, parameters=[1])) == ("parameters", "must be a JSON object")


def test_decoded_request_fields() -> None:
    req = decode_request(
        body(
            inp([1, 2], [2]),
            inp([3], [1], "INT64", "n"),
            id=17,
            outputs=[{"name": "y", "parameters": {"binary_data": True}}],
            parameters={"sequence_id": 4},
        ),
        None,
    )
    assert [t.name for t in req.inputs] == ["x", "n"]
    assert req.id == "17" and req.parameters == {"sequence_id": 4}
    assert req.outputs == [RequestedOutput("y", {"binary_data": True})]
    assert decode_request(body(inp([1], [1]), id="abc"), None).id == "abc"
    plain = decode_request(body(inp([1], [1])), None)
    assert (plain.id, plain.outputs, plain.parameters) == (None, None, {})


# ---- binary data --------------------------------------------------------------------------------


def triton_body(arrays: dict[str, np.ndarray], binary: bool = True, **kw: Any) -> tuple[bytes, str | None]:
    inputs: list[triton.InferInput] = []
    for name, arr in arrays.items():
        item = triton.InferInput(
            name,
            list(arr.shape),
            {np.dtype(np.float32): "FP32", np.dtype(np.int64): "INT64", np.dtype(np.uint8): "UINT8"}[arr.dtype],
        )
        item.set_data_from_numpy(arr, binary_data=binary)
        inputs.append(item)
    data, header_length = triton.InferenceServerClient.generate_request_body(inputs, **kw)
    return data, None if header_length is None else str(header_length)


def test_binary_inputs_from_tritonclient() -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3) / 4
    n = np.array([[5], [-6]], dtype=np.int64)
    u = np.array([1, 2, 255], dtype=np.uint8)
    data, header_length = triton_body({"x": x, "n": n, "u": u}, request_id="b-1")
    req = decode_request(data, header_length)
    assert req.id == "b-1" and [t.name for t in req.inputs] == ["x", "n", "u"]
    got = {t.name: t.array for t in req.inputs}
    np.testing.assert_array_equal(got["x"], x)
    np.testing.assert_array_equal(got["n"], n)
    np.testing.assert_array_equal(got["u"], u)
    assert got["x"].dtype == np.dtype("<f4") and got["n"].shape == (2, 1)


def test_binary_and_json_inputs_mix() -> None:
    header = {
        "inputs": [
            {"name": "a", "shape": [2], "datatype": "INT32", "parameters": {"binary_data_size": 8}},
            {"name": "b", "shape": [1], "datatype": "FP32", "data": [0.5]},
            {"name": "c", "shape": [1], "datatype": "INT8", "parameters": {"binary_data_size": 1}},
        ]
    }
    head = json.dumps(header).encode()
    tail = np.array([7, -1], "<i4").tobytes() + np.array([-3], "i1").tobytes()
    req = decode_request(head + tail, str(len(head)))
    assert [t.array.tolist() for t in req.inputs] == [[7, -1], [0.5], [-3]]


def test_binary_rules() -> None:
    x = np.arange(4, dtype=np.float32)
    data, header_length = triton_body({"x": x})
    assert header_length is not None
    n = int(header_length)
    length_rule = f"must be an integer ≤ the body size ({len(data)} bytes); got "
    for bad in ("abc", "-1", str(len(data) + 1), "1.5", ""):
        assert rule_of(data, bad) == ("Inference-Header-Content-Length", length_rule + repr(bad))
    assert decode_request(data, str(n)).inputs[0].array.tolist() == [0, 1, 2, 3]
    size_rule = ("x.parameters.binary_data_size", "must be 16 bytes (4 × FP32) within the body")
    assert rule_of(data[:-1], header_length) == size_rule  # the tail is one byte short
    for size in (15, 17, True, "16", 16.0):
        head = json.dumps(
            {"inputs": [{"name": "x", "shape": [4], "datatype": "FP32", "parameters": {"binary_data_size": size}}]}
        ).encode()
        assert rule_of(head + x.tobytes() + b"\0", str(len(head))) == size_rule, size
    assert rule_of(data + b"\1\2", header_length) == ("body", "2 binary bytes not claimed by any input")
    # binary bytes without a header length are just a malformed JSON body
    assert rule_of(data) == ("body", "valid JSON (RFC 8259)")


def test_split_body() -> None:
    head, tail = split_body(b'{"a": 1}xyz', "8")
    assert head == {"a": 1} and tail == b"xyz"
    head, tail = split_body(b'{"a": 1}', None)
    assert head == {"a": 1} and tail == b""
    head, tail = split_body(b'{"a": 1}', "8")  # header length = the whole body
    assert tail == b""


# ---- responses ----------------------------------------------------------------------------------


def _response(**kw: Any) -> InferResponse:
    outputs: list[tuple[str, np.ndarray]] = [
        ("probs", np.array([[0.25, 0.75]], dtype=np.float32)),
        ("label", np.array([1], dtype=np.int64)),
    ]
    return InferResponse("sentiment-gru", "2", outputs, {"timing_ms": 1.5}, **kw)


def test_json_response_by_default() -> None:
    payload, headers, media = encode_response(_response(id="r-9"), InferRequest([]))
    assert (headers, media) == ({}, "application/json")
    assert json.loads(payload) == {
        "model_name": "sentiment-gru",
        "model_version": "2",
        "id": "r-9",
        "parameters": {"timing_ms": 1.5},
        "outputs": [
            {"name": "probs", "datatype": "FP32", "shape": [1, 2], "data": [0.25, 0.75]},
            {"name": "label", "datatype": "INT64", "shape": [1], "data": [1]},
        ],
    }
    payload, _, _ = encode_response(_response(), InferRequest([]))
    assert "id" not in json.loads(payload)


def test_binary_response_read_back_by_tritonclient() -> None:
    request = InferRequest([], parameters={"binary_data_output": True})
    payload, headers, media = encode_response(_response(id="z"), request)
    assert media == "application/octet-stream"
    header_length = int(headers["Inference-Header-Content-Length"])
    assert json.loads(payload[:header_length])["outputs"][0]["parameters"] == {"binary_data_size": 8}
    result = triton.InferenceServerClient.parse_response_body(payload, header_length=header_length)
    np.testing.assert_array_equal(result.as_numpy("probs"), [[0.25, 0.75]])
    np.testing.assert_array_equal(result.as_numpy("label"), [1])
    assert result.get_response()["id"] == "z" and result.get_response()["model_name"] == "sentiment-gru"


def test_per_output_binary_choice_overrides_the_request_default() -> None:
    request = InferRequest([], outputs=[RequestedOutput("probs", {"binary_data": True}), RequestedOutput("label")])
    payload, headers, _ = encode_response(_response(), request)
    n = int(headers["Inference-Header-Content-Length"])
    head = json.loads(payload[:n])
    assert head["outputs"][0] == {
        "name": "probs",
        "datatype": "FP32",
        "shape": [1, 2],
        "parameters": {"binary_data_size": 8},
    }
    assert head["outputs"][1] == {"name": "label", "datatype": "INT64", "shape": [1], "data": [1]}
    assert payload[n:] == np.array([0.25, 0.75], "<f4").tobytes()
    # the request default on, one output asks for JSON
    request = InferRequest(
        [],
        outputs=[RequestedOutput("probs", {"binary_data": False}), RequestedOutput("label")],
        parameters={"binary_data_output": True},
    )
    payload, headers, _ = encode_response(_response(), request)
    n = int(headers["Inference-Header-Content-Length"])
    assert "data" in json.loads(payload[:n])["outputs"][0] and payload[n:] == np.array([1], "<i8").tobytes()


def test_big_endian_outputs_are_sent_little_endian() -> None:
    response = InferResponse("m", "1", [("y", np.array([1.0, -2.0], dtype=">f8"))], {})
    payload, headers, _ = encode_response(response, InferRequest([], parameters={"binary_data_output": True}))
    n = int(headers["Inference-Header-Content-Length"])
    assert json.loads(payload[:n])["outputs"][0]["datatype"] == "FP64"
    assert payload[n:] == np.array([1.0, -2.0], "<f8").tobytes()
    payload, _, _ = encode_response(response, InferRequest([]))
    assert json.loads(payload)["outputs"][0]["data"] == [1.0, -2.0]
