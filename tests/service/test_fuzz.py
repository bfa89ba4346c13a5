"""Fuzzing the real server: schemathesis over the served OpenAPI document, and a property-based
fuzzer of V2 infer bodies (JSON and binary). Zero 5xx, zero hangs, zero schema violations."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadtest.servers import Server, run_server

CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture(scope="module")
def fuzz_client(fuzz_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fuzz_server.url, timeout=5) as client:
        yield client


@pytest.fixture(scope="module")
def fuzz_server(tiny_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with run_server(
        tiny_repo,
        extra_args=["--log-level", "warning", "--max-body-bytes", "200000"],
        log_dir=tmp_path_factory.mktemp("fuzz-logs"),
        ready_path="/v2/health/ready",
    ) as srv:
        yield srv


def test_schemathesis_every_check_over_the_served_openapi(fuzz_server: Server, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    cmd = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG),
        "run",
        f"{fuzz_server.url}/openapi.json",
        "--checks",
        "all",
        "--mode",
        "all",
        "-n",
        "30",
        "--seed",
        "7",
        "--workers",
        "1",
        "--max-response-time",
        "5",
        "--no-color",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    result = json.loads(report.read_text())
    cases = result["test_cases"]
    assert cases["generated"] >= 1000 and cases["with_failures"] == 0 and cases["errored"] == 0, cases
    assert "Traceback" not in fuzz_server.log()


NAMES = st.one_of(
    st.sampled_from(["tokens", "lengths", "history", "features"]),
    st.text(max_size=8),
    st.integers(),
    st.none(),
    st.lists(st.integers(), max_size=2),
    st.just({}),
)
DATATYPES = st.one_of(
    st.sampled_from(["INT64", "FP32", "INT32", "BOOL", "FP16", "BYTES", "UINT8"]),
    st.text(max_size=5),
    st.integers(),
    st.none(),
    st.just({}),
)
SHAPES = st.one_of(
    st.lists(st.integers(min_value=-2, max_value=300), max_size=4),
    st.lists(st.integers(min_value=0, max_value=2**40), max_size=3),
    st.lists(st.booleans(), max_size=2),
    st.text(max_size=3),
    st.none(),
)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=False, allow_infinity=False), st.booleans()
)
DATA = st.one_of(
    st.lists(NUMBERS, max_size=40),
    st.lists(st.lists(NUMBERS, max_size=8), max_size=6),
    st.lists(st.text(max_size=3), max_size=3),
    NUMBERS,
    st.none(),
    st.just({}),
)
SCALARS = st.one_of(
    st.text(max_size=6), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none()
)
PARAMS = st.one_of(
    st.none(),
    st.dictionaries(
        st.sampled_from(
            [
                "binary_data_size",
                "binary_data",
                "binary_data_output",
                "sequence_id",
                "sequence_start",
                "sequence_end",
                "x",
            ]
        ),
        st.one_of(SCALARS, st.integers(min_value=0, max_value=5000), st.lists(st.integers(), max_size=2)),
        max_size=3,
    ),
)
TENSOR = st.fixed_dictionaries(
    {"name": NAMES, "shape": SHAPES, "datatype": DATATYPES}, optional={"data": DATA, "parameters": PARAMS}
)
REQUEST = st.fixed_dictionaries(
    {"inputs": st.one_of(st.lists(TENSOR, max_size=3), SCALARS)},
    optional={
        "outputs": st.one_of(
            st.lists(st.fixed_dictionaries({"name": NAMES}, optional={"parameters": PARAMS}), max_size=2), SCALARS
        ),
        "parameters": PARAMS,
        "id": SCALARS,
    },
)
MODELS = st.sampled_from(["sentiment-gru", "keywords-lstm", "forecast-gru"])
FUZZ = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)


def _check(resp: httpx.Response) -> None:
    assert resp.status_code < 500, resp.text
    if resp.status_code >= 400:
        body: dict[str, Any] = resp.json()
        assert body["error"] and resp.headers["x-request-id"]


@FUZZ
@given(model=MODELS, request=REQUEST)
def test_v2_json_bodies_never_500(fuzz_client: httpx.Client, model: str, request: dict[str, Any]) -> None:
    resp = fuzz_client.post(f"/v2/models/{model}/infer", json=request)
    _check(resp)


@FUZZ
@given(
    model=MODELS,
    request=REQUEST,
    tail=st.binary(max_size=600),
    header_length=st.one_of(
        st.none(), st.integers(min_value=-5, max_value=2000), st.from_regex(r"[0-9a-z+-]{0,4}", fullmatch=True)
    ),
)
def test_v2_binary_bodies_never_500(
    fuzz_client: httpx.Client, model: str, request: dict[str, Any], tail: bytes, header_length: int | str | None
) -> None:
    header = json.dumps(request).encode()
    length = str(len(header)) if header_length is None else str(header_length)
    resp = fuzz_client.post(
        f"/v2/models/{model}/infer",
        content=header + tail,
        headers={"Inference-Header-Content-Length": length, "Content-Type": "application/octet-stream"},
    )
    _check(resp)
