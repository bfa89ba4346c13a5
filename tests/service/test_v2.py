"""KServe V2 as Triton spells it, driven by the real ``tritonclient[http]`` (JSON and binary)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlparse

import httpx
import numpy as np
import orjson
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from loadtest.servers import Server
from tests.service.conftest import example
from tests.service.tiny_models import MODEL_NAMES
from tests.triton import triton_inputs

RNG = np.random.default_rng(0)


def make_inputs(arrays: dict[str, np.ndarray], binary: bool) -> list[triton.InferInput]:
    return triton_inputs(triton, arrays, binary)


@pytest.fixture(scope="module")
def tc(server: Server) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(urlparse(server.url).netloc)
    yield client
    client.close()


def test_server_endpoints(tc: triton.InferenceServerClient) -> None:
    assert tc.is_server_live() and tc.is_server_ready()
    meta = tc.get_server_metadata()
    assert meta["name"] == "rnn-serve"
    assert {"binary_tensor_data", "statistics", "model_configuration"} <= set(meta["extensions"])


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_infer_every_model(tc: triton.InferenceServerClient, sessions: dict, name: str, binary: bool) -> None:
    arrays = example(name)
    meta = tc.get_model_metadata(name)
    out_name = meta["outputs"][0]["name"]
    result = tc.infer(
        name,
        make_inputs(arrays, binary),
        outputs=[triton.InferRequestedOutput(out_name, binary_data=binary)],
        request_id="r-1",
    )
    got = result.as_numpy(out_name)
    want = sessions[name].run([out_name], arrays)[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    response = result.get_response()
    assert response["id"] == "r-1" and response["model_name"] == name
    timing = response["parameters"]
    assert timing["inference_ms"] > 0 and timing["total_ms"] >= timing["inference_ms"]
    assert ("binary_data_size" in response["outputs"][0].get("parameters", {})) == binary


def test_default_client_call_is_binary_both_ways(tc: triton.InferenceServerClient, sessions: dict) -> None:
    arrays = example("forecast-lstm", batch=1)
    result = tc.infer("forecast-lstm", make_inputs(arrays, True))  # no outputs → binary_data_output
    np.testing.assert_allclose(result.as_numpy("forecast"), sessions["forecast-lstm"].run(None, arrays)[0], rtol=1e-5)


def test_sentiment_lengths_derived_from_padding(tc: triton.InferenceServerClient, sessions: dict) -> None:
    """Without ``lengths`` each right-padded row is read up to its last non-pad id."""
    tokens = RNG.integers(2, 20, (3, 6)).astype(np.int64)
    tokens[1, 4:] = 0
    tokens[2, 1:] = 0
    result = tc.infer("sentiment-gru", make_inputs({"tokens": tokens}, True))
    want = sessions["sentiment-gru"].run(None, {"tokens": tokens, "lengths": np.array([6, 4, 1])})[0]
    np.testing.assert_allclose(result.as_numpy("logits"), want, rtol=1e-5)


def test_metadata_config_versions(client: httpx.Client) -> None:
    meta = client.get("/v2/models/keywords-gru").json()
    assert meta["platform"] == "onnxruntime_onnx" and meta["versions"] == ["1"]
    assert meta["inputs"] == [{"name": "features", "datatype": "FP32", "shape": [-1, 98, 40]}]
    assert client.get("/v2/models/keywords-gru/versions/1").json() == meta
    assert client.get("/v2/models/keywords-gru/versions/7").status_code == 404
    assert client.get("/v2/models/keywords-gru/ready").status_code == 200
    assert client.get("/v2/models/keywords-gru/versions/1/ready").status_code == 200
    config = client.get("/v2/models/keywords-gru/config").json()
    assert config["platform"] == "onnxruntime_onnx" and config["max_batch_size"] >= 1
    assert config["input"][0] == {"name": "features", "data_type": "TYPE_FP32", "dims": [98, 40], "optional": False}
    assert config["output"][0] == {"name": "logits", "data_type": "TYPE_FP32", "dims": [10]}
    sentiment = client.get("/v2/models/sentiment-lstm/config").json()["input"]
    assert sentiment == [{"name": "tokens", "data_type": "TYPE_INT64", "dims": [-1], "optional": False}]
    assert [i["name"] for i in client.get("/v2/models/sentiment-lstm").json()["inputs"]] == ["tokens"]


def _post(client: httpx.Client, name: str, body: dict, headers: dict | None = None) -> httpx.Response:
    return client.post(f"/v2/models/{name}/infer", content=orjson.dumps(body), headers=headers or {})


def _fc(shape: list[int], data: list, datatype: str = "FP32", name: str = "history") -> dict:
    return {"inputs": [{"name": name, "shape": shape, "datatype": datatype, "data": data}]}


OK = [0.0] * (96 * 7)


@pytest.mark.parametrize(
    ("body", "field", "word"),
    [
        (_fc([1, 96, 7], OK, name="x"), "inputs[0].name", "must be one of"),
        (_fc([1, 96, 7], OK, datatype="FP64"), "history.datatype", "FP32"),
        (_fc([1, 95, 7], [0.0] * 665), "history.shape", "must match"),
        (_fc([1, 96, 7], OK[:-1]), "history.data", "elements"),
        (_fc([1, 96, 7], ["a"] * 672), "history.data", "FP32"),
        (_fc([1, 96, 7], [[1.0, 2.0], [3.0]]), "history.data", "elements"),  # nesting is read flat, as Triton does
        (_fc([1, 96, 7], [[1.0, "a"], [3.0]]), "history.data", "list of numbers"),
        (_fc([0, 96, 7], []), "inputs", "batch size"),
        (_fc([65, 96, 7], [0.0] * (65 * 672)), "inputs", "batch size"),
        ({"inputs": []}, "inputs", "non-empty"),
        ({"outputs": [{"name": "forecast"}]}, "inputs", "non-empty"),
        ({**_fc([1, 96, 7], OK), "outputs": [{"name": "nope"}]}, "outputs[0].name", "must be one of"),
        (
            {"inputs": [{"name": "history", "shape": [1, 96, 7], "datatype": "FP32"}]},
            "history.data",
            "binary_data_size",
        ),
    ],
)
def test_v2_bad_tensors(client: httpx.Client, body: dict, field: str, word: str) -> None:
    resp = _post(client, "forecast-gru", body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["field"] == field and word in resp.json()["error"]


def test_v2_nan_inf_binary_and_sentiment_rules(client: httpx.Client, sessions: dict) -> None:
    arr = np.zeros((1, 96, 7), dtype="<f4")
    arr[0, 5, 3] = np.nan
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "history",
                    "shape": [1, 96, 7],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": arr.nbytes},
                }
            ],
            "parameters": {"binary_data_output": True},
        }
    )
    resp = client.post(
        "/v2/models/forecast-lstm/infer",
        content=header + arr.tobytes(),
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    assert resp.status_code == 200  # V2 passes NaN through to the model, as Triton does
    head = int(resp.headers["inference-header-content-length"])
    got = np.frombuffer(resp.content[head:], dtype="<f4")
    np.testing.assert_array_equal(np.isnan(got), np.isnan(sessions["forecast-lstm"].run(None, {"history": arr})[0][0]))
    short = client.post(
        "/v2/models/forecast-lstm/infer",
        content=header + arr.tobytes()[:-4],
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    assert short.status_code == 400 and short.json()["field"].endswith("binary_data_size")
    bad_len = client.post(
        "/v2/models/forecast-lstm/infer", content=header, headers={"Inference-Header-Content-Length": "x"}
    )
    assert bad_len.status_code == 400 and bad_len.json()["field"] == "Inference-Header-Content-Length"
    tokens = {"name": "tokens", "shape": [1, 3], "datatype": "INT64", "data": [1, 2, 99999]}
    outside = _post(client, "sentiment-gru", {"inputs": [tokens]}).json()["outputs"][0]["data"]
    unknown = _post(client, "sentiment-gru", {"inputs": [{**tokens, "data": [1, 2, 1]}]}).json()["outputs"][0]["data"]
    assert outside == unknown  # an id outside the vocabulary reads as <unk> (1)
    tokens["data"] = [1, 2, 3]
    lengths = {"name": "lengths", "shape": [1], "datatype": "INT64", "data": [9]}
    resp = _post(client, "sentiment-gru", {"inputs": [tokens, lengths]})
    assert resp.status_code == 400 and resp.json()["field"] == "lengths"
    lengths["data"], lengths["shape"] = [2], [1, 1]  # Triton's reshape form of a per-row scalar
    assert _post(client, "sentiment-gru", {"inputs": [tokens, lengths]}).status_code == 200


def test_v2_errors_through_tritonclient(tc: triton.InferenceServerClient) -> None:
    with pytest.raises(InferenceServerException) as exc:
        tc.infer("no-such-model", make_inputs(example("forecast-gru"), True))
    assert exc.value.status() == "404" or "unknown model" in str(exc.value)
    bad = make_inputs({"history": np.zeros((1, 96, 6), np.float32)}, True)
    with pytest.raises(InferenceServerException, match="must match"):
        tc.infer("forecast-gru", bad)
    assert not tc.is_model_ready("no-such-model")
