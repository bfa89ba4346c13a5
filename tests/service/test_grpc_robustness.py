"""The gRPC front end under hostile input and at the edges of its life: random messages and random
bytes never get INTERNAL/UNKNOWN, a port it cannot bind stops start-up, SIGTERM drains gRPC calls
in flight and exits 0, and the committed generated code is what ``make proto`` makes."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import tritonclient.grpc as triton
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from tritonclient.grpc import service_pb2

from loadtest.servers import REPO_ROOT, free_port, run_server
from service.grpc import generate
from service.settings import Settings
from tests.service.conftest import example
from tests.triton import triton_inputs

INFER = "/inference.GRPCInferenceService/ModelInfer"
#: codes that would mean the server, not the client, got something wrong
SERVER_FAULTS = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
NAMES = ["forecast-gru", "sentiment-lstm", "keywords-gru", "forecast-gru-stream", "nope", ""]
INPUTS = ["history", "tokens", "lengths", "features", "x", ""]
DATATYPES = ["FP32", "INT64", "FP16", "FP64", "INT32", "UINT8", "BOOL", "BYTES", "fp32", ""]


def test_committed_generated_code_is_what_make_proto_makes() -> None:
    assert generate.main(["--check"]) == 0


def test_grpc_port_must_differ_from_port() -> None:
    with pytest.raises(ValidationError, match="grpc_port and port"):
        Settings(port=9100, grpc_port=9100)
    assert Settings(port=9100, grpc_port=0).grpc_port == 0


def test_a_port_it_cannot_bind_stops_start_up(tiny_repo: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cmd = [
            sys.executable,
            "-m",
            "service.cli",
            "serve",
            "--port",
            str(free_port()),
            "--grpc-port",
            str(port),
            "--model-repository",
            str(tiny_repo),
            "--warmup-runs",
            "0",
        ]
        proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0
    assert f"gRPC cannot listen on 127.0.0.1:{port}" in proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def fuzz_channel(tiny_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[grpc.Channel]:
    with (
        run_server(
            tiny_repo,
            grpc=True,
            log_dir=tmp_path_factory.mktemp("grpc-fuzz"),
            extra_args=["--max-body-bytes", "100000"],
        ) as srv,
        grpc.insecure_channel(srv.grpc_address or "") as channel,
    ):
        yield channel


def _tensor(draw: Any) -> dict[str, Any]:
    datatype = draw(st.sampled_from(DATATYPES))
    shape = draw(st.lists(st.integers(-2, 100), max_size=4))
    contents: dict[str, Any] = {}
    if draw(st.booleans()):
        field = draw(st.sampled_from(["fp32_contents", "int64_contents", "int_contents", "bool_contents"]))
        kind = {
            "fp32_contents": st.floats(width=32),
            "int64_contents": st.integers(-(2**63), 2**63 - 1),
            "int_contents": st.integers(-(2**31), 2**31 - 1),
            "bool_contents": st.booleans(),
        }[field]
        contents[field] = draw(st.lists(kind, max_size=700))
    return {
        "name": draw(st.sampled_from(INPUTS)),
        "datatype": datatype,
        "shape": shape,
        "contents": service_pb2.InferTensorContents(**contents),
    }


@st.composite
def infer_requests(draw: Any) -> bytes:
    request = service_pb2.ModelInferRequest(
        model_name=draw(st.sampled_from(NAMES)), model_version=draw(st.sampled_from(["", "1", "2"]))
    )
    for _ in range(draw(st.integers(0, 3))):
        request.inputs.add(**_tensor(draw))
    if draw(st.booleans()):
        sizes = st.sampled_from([0, 1, 7, 4 * 672, 8 * 7, 4 * 98 * 40])
        request.raw_input_contents.extend(
            draw(st.binary(min_size=n, max_size=n)) for n in draw(st.lists(sizes, max_size=3))
        )
    for key in draw(st.lists(st.sampled_from(["sequence_id", "sequence_start", "sequence_end", "x"]), max_size=3)):
        value = draw(
            st.one_of(
                st.integers(0, 2**63 - 1).map(lambda v: {"int64_param": v}),
                st.booleans().map(lambda v: {"bool_param": v}),
                st.text(max_size=5).map(lambda v: {"string_param": v}),
                st.just({}),
            )
        )
        request.parameters[key].CopyFrom(service_pb2.InferParameter(**value))
    for name in draw(st.lists(st.sampled_from(["forecast", "logits", "zz"]), max_size=2)):
        request.outputs.add(name=name)
    return request.SerializeToString()  # type: ignore[no-any-return]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=st.one_of(infer_requests(), st.binary(max_size=300)))
def test_random_requests_and_bytes_never_get_a_server_fault(fuzz_channel: grpc.Channel, payload: bytes) -> None:
    method = fuzz_channel.unary_unary(INFER)
    try:
        method(payload, timeout=10)
    except grpc.RpcError as exc:
        assert exc.code() not in SERVER_FAULTS, exc.details()


def test_a_stream_answers_garbage_with_an_error_and_goes_on(fuzz_channel: grpc.Channel) -> None:
    """Bytes that are no message get ``error_message`` in their place in the stream, not a broken stream."""
    ok = service_pb2.ModelInferRequest(model_name="forecast-gru", id="ok")
    ok.inputs.add(name="history", datatype="FP32", shape=[1, 96, 7])
    ok.raw_input_contents.append(bytes(4 * 96 * 7))
    stream = fuzz_channel.stream_stream(
        "/inference.GRPCInferenceService/ModelStreamInfer",
        response_deserializer=service_pb2.ModelStreamInferResponse.FromString,
    )
    answers = list(stream(iter([b"\xff\xff", ok.SerializeToString(), b"\x0a"]), timeout=10))
    assert [bool(a.error_message) for a in answers] == [True, False, True]
    assert "not a valid ModelInferRequest" in answers[0].error_message
    assert answers[1].infer_response.id == "ok" and len(answers[1].infer_response.raw_output_contents) == 1


def test_sigterm_drains_grpc_calls_in_flight_and_exits_0(tiny_repo: Path, tmp_path: Path) -> None:
    """As tests/service/test_drain.py does for HTTP: calls held in a batching queue past the
    lame-duck period, and calls sent during it, are all answered; then the process exits 0."""
    env = {
        "RNN_SERVE_MAX_BATCH_ROWS": "64",
        "RNN_SERVE_MAX_QUEUE_DELAY_US": "1200000",
        "RNN_SERVE_SHUTDOWN_DELAY_S": "0.4",
        "RNN_SERVE_GRACEFUL_SHUTDOWN_S": "10",
    }
    with run_server(tiny_repo, grpc=True, env=env, log_dir=tmp_path, ready_path="/v2/health/ready") as srv:
        results: list[Any] = []
        done = threading.Semaphore(0)

        def callback(result: Any, error: Any) -> None:
            results.append(error or result.as_numpy("forecast").shape)
            done.release()

        client = triton.InferenceServerClient(srv.grpc_address or "")
        inputs = triton_inputs(triton, example("forecast-gru", batch=1))
        for _ in range(6):
            client.async_infer("forecast-gru", inputs, callback)
        time.sleep(0.3)  # the 6 wait in the queue (their batch waits 1.2 s)
        started = time.monotonic()
        srv.process.send_signal(signal.SIGTERM)
        time.sleep(0.1)  # within shutdown_delay_s: still served
        for _ in range(2):
            client.async_infer("forecast-gru", inputs, callback)
        assert all(done.acquire(timeout=15) for _ in range(8))
        client.close()
        assert results == [(1, 96)] * 8, results
        assert srv.process.wait(timeout=15) == 0
        assert time.monotonic() - started >= 0.4  # served through the lame-duck period
        assert "serving on for 0.40 s before draining" in srv.log()
