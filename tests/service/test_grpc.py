"""KServe V2 over gRPC, driven by the real ``tritonclient.grpc``: the checks ``test_v2.py`` makes
with ``tritonclient.http``, on every model, plus status codes, streams and statistics.

Raw binary contents are what tritonclient sends; typed ``contents`` are sent with Triton's own
generated messages (``tritonclient.grpc.service_pb2``, package ``inference``) on a bare channel,
which also shows the wire names match Triton's although our generated code lives elsewhere.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton
from tritonclient.grpc import service_pb2
from tritonclient.utils import InferenceServerException

from loadtest.servers import Server, run_server
from tests.service.conftest import STREAMING, example, one_process
from tests.service.tiny_models import MODEL_NAMES
from tests.triton import triton_inputs

INFER = "/inference.GRPCInferenceService/ModelInfer"
MAX_SESSIONS = 2


@pytest.fixture(scope="module")
def grpc_server(tiny_repo: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with run_server(
        tiny_repo,
        grpc=True,
        log_dir=tmp_path_factory.mktemp("grpc-logs"),
        ready_path="/v2/health/ready",
        extra_args=["--max-body-bytes", "200000", "--stream-max-sessions", str(MAX_SESSIONS)],
    ) as srv:
        yield srv


@pytest.fixture(scope="module")
def tc(grpc_server: Server) -> Iterator[triton.InferenceServerClient]:
    assert grpc_server.grpc_address is not None
    client = triton.InferenceServerClient(grpc_server.grpc_address)
    yield client
    client.close()


@pytest.fixture(scope="module")
def rest(grpc_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=grpc_server.url, timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def channel(grpc_server: Server) -> Iterator[grpc.Channel]:
    assert grpc_server.grpc_address is not None
    with grpc.insecure_channel(grpc_server.grpc_address) as ch:
        yield ch


def make_inputs(arrays: dict[str, np.ndarray]) -> list[triton.InferInput]:
    return triton_inputs(triton, arrays)


def typed_request(name: str, arrays: dict[str, np.ndarray]) -> service_pb2.ModelInferRequest:
    """A request with typed ``contents`` (no raw bytes), as clients other than tritonclient send."""
    request = service_pb2.ModelInferRequest(model_name=name, id="typed-1")
    for key, arr in arrays.items():
        tensor = request.inputs.add(name=key, shape=arr.shape, datatype="INT64" if arr.dtype == np.int64 else "FP32")
        field = tensor.contents.int64_contents if arr.dtype == np.int64 else tensor.contents.fp32_contents
        field.extend(arr.ravel().tolist())
    return request


def call_infer(channel: grpc.Channel, payload: bytes) -> service_pb2.ModelInferResponse:
    method = channel.unary_unary(INFER, response_deserializer=service_pb2.ModelInferResponse.FromString)
    return method(payload, timeout=10)


def test_server_endpoints(tc: triton.InferenceServerClient) -> None:
    assert tc.is_server_live() and tc.is_server_ready()
    meta = tc.get_server_metadata()
    assert meta.name == "rnn-serve"
    assert {"binary_tensor_data", "statistics", "model_configuration", "sequence"} <= set(meta.extensions)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_infer_every_model_raw(tc: triton.InferenceServerClient, sessions: dict, name: str) -> None:
    arrays = example(name)
    out_name = tc.get_model_metadata(name).outputs[0].name
    result = tc.infer(name, make_inputs(arrays), outputs=[triton.InferRequestedOutput(out_name)], request_id="r-1")
    np.testing.assert_allclose(
        result.as_numpy(out_name), sessions[name].run([out_name], arrays)[0], rtol=1e-5, atol=1e-6
    )
    response = result.get_response()
    assert response.id == "r-1" and response.model_name == name and response.model_version == "1"
    timing = {k: v.double_param for k, v in response.parameters.items() if k.endswith("_ms")}
    assert timing["inference_ms"] > 0 and timing["total_ms"] >= timing["inference_ms"]
    assert response.parameters["batch_size"].int64_param == 2


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_infer_every_model_typed_contents(channel: grpc.Channel, sessions: dict, name: str) -> None:
    arrays = example(name, seed=1)
    response = call_infer(channel, typed_request(name, arrays).SerializeToString())
    assert response.id == "typed-1" and len(response.raw_output_contents) == len(response.outputs) == 1
    out = response.outputs[0]
    got = np.frombuffer(response.raw_output_contents[0], dtype="<f4").reshape(tuple(out.shape))
    np.testing.assert_allclose(got, sessions[name].run([out.name], arrays)[0], rtol=1e-5, atol=1e-6)


def test_sentiment_lengths_derived_from_padding(tc: triton.InferenceServerClient, sessions: dict) -> None:
    tokens = np.random.default_rng(3).integers(2, 20, (3, 6)).astype(np.int64)
    tokens[1, 4:] = 0
    tokens[2, 1:] = 0
    result = tc.infer("sentiment-gru", make_inputs({"tokens": tokens}))
    want = sessions["sentiment-gru"].run(None, {"tokens": tokens, "lengths": np.array([6, 4, 1])})[0]
    np.testing.assert_allclose(result.as_numpy("logits"), want, rtol=1e-5)


@pytest.mark.parametrize(
    "name",
    [*MODEL_NAMES, *[pytest.param(n, marks=one_process) for n in ("forecast-gru-stream", "keywords-lstm-stream")]],
)
def test_metadata_and_config_match_rest(tc: triton.InferenceServerClient, rest: httpx.Client, name: str) -> None:
    meta = tc.get_model_metadata(name, as_json=True)
    rest_meta = rest.get(f"/v2/models/{name}").json()
    assert {k: meta[k] for k in ("name", "versions", "platform")} == {
        k: rest_meta[k] for k in ("name", "versions", "platform")
    }
    for key in ("inputs", "outputs"):  # JSON of protobuf int64 is a string
        assert [{**t, "shape": [int(d) for d in t["shape"]]} for t in meta[key]] == rest_meta[key]
    config = tc.get_model_config(name, as_json=True)["config"]
    rest_config = rest.get(f"/v2/models/{name}/config").json()
    assert config["max_batch_size"] == rest_config["max_batch_size"]
    assert [i["name"] for i in config["input"]] == [i["name"] for i in rest_config["input"]]
    assert [[int(d) for d in i["dims"]] for i in config["input"]] == [i["dims"] for i in rest_config["input"]]
    # one scheduler per model: the plain model batches dynamically, the -stream model is a sequence model
    assert ("sequence_batching" in config) == name.endswith("-stream") == ("dynamic_batching" not in config)
    assert config["parameters"] == rest_config["parameters"]
    assert tc.get_model_metadata(name, model_version="1").name == name


def test_errors_as_triton_status_codes(tc: triton.InferenceServerClient, channel: grpc.Channel) -> None:
    def code(call: Any) -> str | None:
        with pytest.raises(InferenceServerException) as exc:
            call()
        return exc.value.status()

    history = make_inputs(example("forecast-gru"))
    assert code(lambda: tc.infer("no-such-model", history)) == "StatusCode.NOT_FOUND"
    assert code(lambda: tc.get_model_metadata("keywords-gru", model_version="7")) == "StatusCode.NOT_FOUND"
    assert code(lambda: tc.get_model_config("no-such-model")) == "StatusCode.NOT_FOUND"
    bad = make_inputs({"history": np.zeros((1, 96, 6), np.float32)})
    with pytest.raises(InferenceServerException, match="must match") as exc:
        tc.infer("forecast-gru", bad)
    assert exc.value.status() == "StatusCode.INVALID_ARGUMENT"
    if STREAMING:  # with more workers the -stream models are not served (test_workers.py checks why)
        assert code(lambda: tc.infer("forecast-gru-stream", history)) == "StatusCode.INVALID_ARGUMENT"  # no sequence
        assert tc.is_model_ready("forecast-gru-stream")
    assert code(lambda: tc.infer("forecast-gru", history, sequence_id=5)) == "StatusCode.INVALID_ARGUMENT"
    too_big = make_inputs(example("keywords-gru", batch=16))  # 16 × 98 × 40 × 4 bytes > max_body_bytes
    assert code(lambda: tc.infer("keywords-gru", too_big)) == "StatusCode.RESOURCE_EXHAUSTED"
    assert not tc.is_model_ready("no-such-model")
    with pytest.raises(grpc.RpcError) as rpc:  # a Triton method this server does not have
        channel.unary_unary("/inference.GRPCInferenceService/RepositoryIndex")(b"", timeout=10)
    assert rpc.value.code() == grpc.StatusCode.UNIMPLEMENTED
    empty = service_pb2.ModelInferRequest(model_name="forecast-gru")
    empty.inputs.add(name="history", datatype="FP32", shape=[1, 96, 7])  # neither contents nor raw bytes
    for payload in (b"\xff\xff\xff", empty.SerializeToString()):
        with pytest.raises(grpc.RpcError) as rpc:
            call_infer(channel, payload)
        assert rpc.value.code() == grpc.StatusCode.INVALID_ARGUMENT, rpc.value.details()


@one_process
def test_full_session_store_is_unavailable_with_retry_after(
    tc: triton.InferenceServerClient, channel: grpc.Channel
) -> None:
    step = {"history": np.zeros((1, 2, 7), np.float32)}
    ids = list(range(9001, 9001 + MAX_SESSIONS))
    for sid in ids:
        tc.infer("forecast-lstm-stream", make_inputs(step), sequence_id=sid, sequence_start=True)
    one_more = typed_request("forecast-lstm-stream", step)
    one_more.parameters["sequence_id"].int64_param = 9999
    one_more.parameters["sequence_start"].bool_param = True
    try:
        with pytest.raises(grpc.RpcError) as rpc:
            call_infer(channel, one_more.SerializeToString())
        assert rpc.value.code() == grpc.StatusCode.UNAVAILABLE
        trailers = dict(rpc.value.trailing_metadata())
        assert int(trailers["retry-after"]) >= 1  # the same Retry-After REST sends
    finally:
        for sid in ids:
            tc.infer("forecast-lstm-stream", make_inputs(step), sequence_id=sid, sequence_end=True)


@one_process
def test_stream_infer_sequence_with_a_bad_request_in_the_middle(
    tc: triton.InferenceServerClient, sessions: dict
) -> None:
    """A sequence over ModelStreamInfer equals the one-shot answer; a bad request in the middle
    gets its error (with its id) and the stream, and the sequence, go on."""
    x = np.random.default_rng(7).normal(0, 1, (1, 96, 7)).astype(np.float32)
    answers: queue.Queue[tuple[Any, Any]] = queue.Queue()
    tc.start_stream(callback=lambda result, error: answers.put((result, error)))
    try:
        chunks = [(0, 1), (1, 48), (48, 96)]
        for i, (a, b) in enumerate(chunks):
            tc.async_stream_infer(
                "forecast-gru-stream",
                make_inputs({"history": x[:, a:b]}),
                request_id=f"s{i}",
                sequence_id="seq-a",
                sequence_start=i == 0,
                sequence_end=i == len(chunks) - 1,
            )
            if i == 0:
                tc.async_stream_infer(
                    "forecast-gru-stream", make_inputs({"history": x[:, :, :6]}), request_id="bad", sequence_id="seq-a"
                )
        got = [answers.get(timeout=10) for _ in range(len(chunks) + 1)]
    finally:
        tc.stop_stream()
    ids = [r.get_response().id if e is None else e for r, e in got]
    assert ids[0] == "s0" and ids[2:] == ["s1", "s2"]
    assert isinstance(ids[1], InferenceServerException) and "history.shape" in str(ids[1])
    last = got[-1][0]
    assert last.get_response().parameters["sequence_steps"].int64_param == 96
    want = sessions["forecast-gru"].run(None, {"history": x})[0]
    np.testing.assert_allclose(last.as_numpy("forecast"), want, rtol=1e-4, atol=1e-5)


def _stats(tc: triton.InferenceServerClient, name: str) -> Any:
    return tc.get_inference_statistics(name).model_stats[0]


def test_statistics_and_prometheus_count_grpc_calls(tc: triton.InferenceServerClient, rest: httpx.Client) -> None:
    def requests_total(route: str, status: str) -> float:
        for line in rest.get("/metrics").text.splitlines():
            if (
                line.startswith("rnn_serve_requests_total{")
                and f'route="{route}"' in line
                and f'status="{status}"' in line
                and 'model="keywords-gru"' in line
            ):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = _stats(tc, "keywords-gru")
    ok_before, bad_before = requests_total(INFER, "200"), requests_total(INFER, "400")
    for _ in range(3):
        tc.infer("keywords-gru", make_inputs(example("keywords-gru", batch=2)))
    with pytest.raises(InferenceServerException):
        tc.infer("keywords-gru", make_inputs({"features": np.zeros((1, 98, 39), np.float32)}))
    after = _stats(tc, "keywords-gru")
    stats, old = after.inference_stats, before.inference_stats
    assert stats.success.count - old.success.count == 3 and stats.fail.count - old.fail.count == 1
    assert after.inference_count - before.inference_count == 6
    assert after.execution_count - before.execution_count == 3  # one session.run each (one caller at a time)
    for phase in ("success", "queue", "compute_input", "compute_infer"):
        assert getattr(stats, phase).ns > getattr(old, phase).ns
    assert requests_total(INFER, "200") - ok_before == 3 and requests_total(INFER, "400") - bad_before == 1
    every = tc.get_inference_statistics().model_stats
    assert {s.name for s in every} >= {*MODEL_NAMES, *(["forecast-gru-stream"] if STREAMING else [])}
