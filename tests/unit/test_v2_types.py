"""service/v2/types.py: every structure rule of a V2 request, and binding to a model's inputs, with
the field and rule a client gets back (a 400 must say what to fix)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pytest

from service.errors import BadRequest, ServiceError
from service.package import TensorSpec
from service.v2.types import (
    MAX_ELEMENTS,
    V2_DATATYPE,
    WIRE_DTYPES,
    InferRequest,
    InputTensor,
    RequestedOutput,
    SequenceParams,
    bind_inputs,
    check_datatype,
    check_name,
    check_outputs,
    check_parameters,
    check_shape,
    select_outputs,
    sequence_of,
)


def rule_of(call: Callable[[], Any]) -> tuple[str | None, str | None]:
    """(field, rule) of the 400 that ``call`` raises."""
    with pytest.raises(BadRequest) as info:
        call()
    err: ServiceError = info.value
    assert err.status == 400 and err.message == f"{err.field}: {err.rule}"
    return err.field, err.rule


def test_wire_datatypes() -> None:
    assert sorted(WIRE_DTYPES) == [
        "BOOL",
        "FP16",
        "FP32",
        "FP64",
        "INT16",
        "INT32",
        "INT64",
        "INT8",
        "UINT16",
        "UINT32",
        "UINT64",
        "UINT8",
    ]
    assert V2_DATATYPE[np.dtype(np.float32)] == "FP32" and V2_DATATYPE[np.dtype(np.int64)] == "INT64"
    assert V2_DATATYPE[np.dtype(bool)] == "BOOL" and MAX_ELEMENTS == 2**31


def test_check_parameters() -> None:
    assert check_parameters(None, "x.") == {}
    params = {"a": "s", "b": 1, "c": 2.5, "d": True}
    assert check_parameters(params, "x.") is params
    assert rule_of(lambda: check_parameters([1], "inputs[0].")) == ("inputs[0].parameters", "must be a JSON object")
    assert rule_of(lambda: check_parameters("p", "")) == ("parameters", "must be a JSON object")
    for bad in ([1], {"k": 1}, None):
        assert rule_of(partial(check_parameters, {"ok": 1, "bad": bad}, "t.")) == (
            "t.parameters.bad",
            "must be a string, number or boolean",
        )


def test_check_name() -> None:
    assert check_name("tokens", "inputs[0].") == "tokens"
    for bad in (None, "", 3, ["n"]):
        assert rule_of(partial(check_name, bad, "inputs[2].")) == (
            "inputs[2].name",
            "must be a non-empty string",
        )


def test_check_datatype() -> None:
    assert check_datatype("FP32", "x.") == "FP32"
    names = sorted(WIRE_DTYPES)
    assert rule_of(lambda: check_datatype("fp32", "x.")) == ("x.datatype", f"must be one of {names}; got 'fp32'")
    assert rule_of(lambda: check_datatype(None, "x.")) == ("x.datatype", f"must be one of {names}; got None")
    assert rule_of(lambda: check_datatype(["FP32"], "")) == ("datatype", f"must be one of {names}; got ['FP32']")


def test_check_shape() -> None:
    assert check_shape([2, 3], "x.") == (2, 3)
    assert check_shape([], "x.") == ()
    assert check_shape([0, 5], "x.") == (0, 5)
    assert check_shape([2**16, 2**15], "x.") == (2**16, 2**15)  # exactly MAX_ELEMENTS
    for bad in ((2, 3), [2, -1], [True, 3], [2.0], ["2"], None):
        assert rule_of(partial(check_shape, bad, "x.")) == ("x.shape", "must be a list of non-negative integers")
    assert rule_of(lambda: check_shape([2**16, 2**15 + 1], "x.")) == (
        "x.shape",
        "must describe at most 2147483648 elements",
    )


def test_check_outputs() -> None:
    assert check_outputs(None) is None
    assert check_outputs([]) == []
    got = check_outputs([{"name": "a"}, {"name": "b", "parameters": {"binary_data": True}}])
    assert got == [RequestedOutput("a", {}), RequestedOutput("b", {"binary_data": True})]
    assert rule_of(lambda: check_outputs({"name": "a"})) == ("outputs", "must be a list")
    assert rule_of(lambda: check_outputs([{"name": "a"}, "b"])) == ("outputs[1]", "must be a JSON object")
    assert rule_of(lambda: check_outputs([{"name": ""}])) == ("outputs[0].name", "must be a non-empty string")
    assert rule_of(lambda: check_outputs([{"name": "a", "parameters": {"x": [1]}}])) == (
        "outputs[0].parameters.x",
        "must be a string, number or boolean",
    )


def _req(**params: Any) -> InferRequest:
    return InferRequest([], parameters=params)


def test_sequence_of() -> None:
    assert sequence_of(_req()) is None
    assert sequence_of(_req(sequence_id=0, sequence_start=True)) is None  # 0 = not a sequence
    assert sequence_of(_req(sequence_id="")) is None
    assert sequence_of(_req(sequence_id=7)) == SequenceParams("7", False, False)
    assert sequence_of(_req(sequence_id="abc", sequence_start=True)) == SequenceParams("abc", True, False)
    assert sequence_of(_req(sequence_id=3, sequence_end=True)) == SequenceParams("3", False, True)
    for bad in (True, -1, 1.5, None, [1]):
        assert rule_of(partial(sequence_of, _req(sequence_id=bad))) == (
            "parameters.sequence_id",
            "must be an unsigned integer or a string",
        )
    assert rule_of(lambda: sequence_of(_req(sequence_id=1, sequence_start=1))) == (
        "parameters.sequence_start",
        "must be true or false",
    )
    assert rule_of(lambda: sequence_of(_req(sequence_id=1, sequence_start=False, sequence_end="yes"))) == (
        "parameters.sequence_end",
        "must be true or false",
    )


SPECS = [
    TensorSpec(name="tokens", datatype="INT64", shape=[-1, -1]),
    TensorSpec(name="lengths", datatype="INT64", shape=[-1]),
    TensorSpec(name="state", datatype="FP32", shape=[-1, 4]),
]


def _t(name: str, array: np.ndarray, datatype: str = "INT64", shape: tuple[int, ...] | None = None) -> InputTensor:
    return InputTensor(name, datatype, array.shape if shape is None else shape, array)


def _bind(
    *tensors: InputTensor, optional: frozenset[str] = frozenset({"state"}), max_rows: int = 4, max_steps: int = 5
) -> dict[str, np.ndarray]:
    return bind_inputs(InferRequest(list(tensors)), SPECS, optional, max_rows, max_steps)


def test_bind_inputs_by_name_with_a_per_row_scalar_as_b_by_1() -> None:
    tokens = np.arange(6, dtype="<i8").reshape(2, 3)
    got = _bind(_t("lengths", np.array([[3], [2]], dtype="<i8")), _t("tokens", tokens))
    assert list(got) == ["lengths", "tokens"]
    assert got["lengths"].shape == (2,) and got["lengths"].tolist() == [3, 2]
    assert got["tokens"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert got["tokens"].dtype == np.dtype(np.int64) and got["tokens"].dtype.byteorder in "=|"


def test_bind_inputs_reshapes_to_the_declared_shape() -> None:
    flat = np.arange(4, dtype="<i8")  # shape says [2, 2]: the declared shape wins over the array's
    got = _bind(_t("tokens", flat, shape=(2, 2)), _t("lengths", np.array([2, 2], dtype="<i8")))
    assert got["tokens"].tolist() == [[0, 1], [2, 3]]


def test_bind_inputs_limits_are_inclusive() -> None:
    got = _bind(_t("tokens", np.zeros((4, 5), "<i8")), _t("lengths", np.ones(4, "<i8")))
    assert got["tokens"].shape == (4, 5)  # max_rows rows of max_steps steps
    got = _bind(
        _t("tokens", np.zeros((1, 1), "<i8")),
        _t("lengths", np.ones(1, "<i8")),
        _t("state", np.zeros((1, 4), "<f4"), "FP32"),
    )
    assert sorted(got) == ["lengths", "state", "tokens"]


def test_bind_inputs_rules() -> None:
    ok_len = _t("lengths", np.ones(2, "<i8"))
    names = ["lengths", "state", "tokens"]
    assert rule_of(lambda: _bind(ok_len, _t("ids", np.zeros((2, 2), "<i8")))) == (
        "inputs[1].name",
        f"must be one of {names}; got 'ids'",
    )
    assert rule_of(lambda: _bind(ok_len, ok_len)) == ("inputs[1].name", "input 'lengths' given twice")
    assert rule_of(lambda: _bind(_t("lengths", np.ones(2, "<i4"), "INT32"))) == (
        "lengths.datatype",
        "must be INT64; got 'INT32'",
    )
    assert rule_of(lambda: _bind(ok_len, _t("tokens", np.zeros((2, 2, 1), "<i8")))) == (
        "tokens.shape",
        "must match [-1, -1] (-1 = any); got [2, 2, 1]",
    )
    assert rule_of(lambda: _bind(ok_len, _t("state", np.zeros((2, 3), "<f4"), "FP32"))) == (
        "state.shape",
        "must match [-1, 4] (-1 = any); got [2, 3]",
    )
    assert rule_of(lambda: _bind(_t("lengths", np.ones((2, 2), "<i8")))) == (
        "lengths.shape",
        "must match [-1] (-1 = any); got [2, 2]",
    )
    for steps in (0, 6):
        assert rule_of(partial(_bind, ok_len, _t("tokens", np.zeros((2, steps), "<i8")))) == (
            "tokens.shape",
            f"dimension 1 (time steps) must be in [1, 5]; got {steps}",
        )
    assert rule_of(lambda: _bind(ok_len)) == ("inputs", "missing required input(s) ['tokens']")
    assert rule_of(lambda: _bind(ok_len, optional=frozenset())) == (
        "inputs",
        "missing required input(s) ['tokens', 'state']",
    )
    batch = ("inputs", "all inputs need the same batch size in [1, 4]")
    assert rule_of(lambda: _bind(ok_len, _t("tokens", np.zeros((3, 2), "<i8")))) == batch
    assert rule_of(lambda: _bind(_t("lengths", np.ones(5, "<i8")), _t("tokens", np.zeros((5, 2), "<i8")))) == batch
    assert rule_of(lambda: _bind(_t("lengths", np.ones(0, "<i8")), _t("tokens", np.zeros((0, 2), "<i8")))) == batch


def test_bind_inputs_accepts_a_big_endian_array_as_native() -> None:
    big = np.array([[1, 2]], dtype=">i8")
    got = _bind(_t("tokens", big), _t("lengths", np.array([2], dtype=">i8")))
    assert got["tokens"].dtype == np.dtype("=i8") and got["tokens"].tolist() == [[1, 2]]


def test_select_outputs() -> None:
    names = ["logits", "probs"]
    assert select_outputs(InferRequest([]), names) is names
    assert select_outputs(InferRequest([], outputs=[RequestedOutput("probs"), RequestedOutput("logits")]), names) == [
        "probs",
        "logits",
    ]
    assert select_outputs(InferRequest([], outputs=[]), names) == []
    assert rule_of(
        lambda: select_outputs(InferRequest([], outputs=[RequestedOutput("probs"), RequestedOutput("x")]), names)
    ) == ("outputs[1].name", "must be one of ['logits', 'probs']; got 'x'")


def test_dataclass_defaults() -> None:
    r = InferRequest([])
    assert (r.outputs, r.parameters, r.id) == (None, {}, None)
    assert RequestedOutput("a").parameters == {}
    assert InferRequest([]).parameters is not r.parameters
