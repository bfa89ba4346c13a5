"""The fast path (``service.http.cycle``) answers hot requests exactly as the ASGI routes do.

The session's ``server`` answers hot POSTs on the fast path; a second server on the same models
with CORS configured sends every request through ASGI (the fast path is off while CORS is on).
Each request below goes to both, and the answers must agree in status, body (timings aside) and
headers, errors and refusals included. The limits the fast path enforces itself (body size,
body deadline, a client gone mid-upload) are covered against the session server by
``test_hostile.py``; which requests the fast path takes is checked directly at the end.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from loadtest.servers import Server, run_server
from service.http.cycle import FastPath
from service.http.hot import HotRoutes
from service.http.v1 import HOT as V1_HOT
from service.http.v2 import HOT as V2_HOT
from tests.service.conftest import example, history

#: response headers whose values differ per request (lengths follow the timings' digits): compared
#: by name only
VOLATILE = {"date", "server-timing", "x-request-id", "content-length", "inference-header-content-length"}
#: CORS's own header, which only the ASGI server sends
CORS_ONLY = {"vary"}


@pytest.fixture(scope="module")
def asgi_server(tiny_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with run_server(
        tiny_repo,
        log_dir=tmp_path_factory.mktemp("asgi-logs"),
        ready_path="/v2/health/ready",
        extra_args=["--max-body-bytes", "200000", "--cors-allow-origins", "http://page.example"],
    ) as srv:
        yield srv


def _v2_json(name: str) -> bytes:
    arrays = example(name, batch=2)
    return json.dumps(
        {
            "id": "r1",
            "inputs": [
                {
                    "name": k,
                    "datatype": "INT64" if v.dtype == np.int64 else "FP32",
                    "shape": list(v.shape),
                    "data": v.ravel().tolist(),
                }
                for k, v in arrays.items()
            ],
        }
    ).encode()


def _v2_binary(name: str) -> tuple[bytes, dict[str, str]]:
    """The binary tensor extension: a JSON header, then the raw little-endian tensors."""
    arrays = example(name, batch=1)
    raw = [np.ascontiguousarray(v).tobytes() for v in arrays.values()]
    header = json.dumps(
        {
            "inputs": [
                {"name": k, "datatype": "FP32", "shape": list(v.shape), "parameters": {"binary_data_size": len(b)}}
                for (k, v), b in zip(arrays.items(), raw, strict=True)
            ],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    return header + b"".join(raw), {"inference-header-content-length": str(len(header))}


JSON = {"content-type": "application/json"}
FORECAST_BINARY, FORECAST_BINARY_HEADERS = _v2_binary("forecast-gru")

#: (id, path, headers, body): successes, then every kind of refusal
CASES: list[tuple[str, str, dict[str, str], bytes]] = [
    ("predict", "/v1/models/sentiment-gru/predict", JSON, b'{"text": "a fine film"}'),
    ("predict-batch", "/v1/models/sentiment-lstm/predict", JSON, b'{"texts": ["good", "bad and dull"]}'),
    ("predict-forecast", "/v1/models/forecast-gru/predict", JSON, json.dumps({"history": history()}).encode()),
    ("compare", "/v1/compare/sentiment", JSON, b'{"text": "a fine film"}'),
    ("v2-json", "/v2/models/keywords-gru/infer", JSON, _v2_json("keywords-gru")),
    ("v2-versioned", "/v2/models/sentiment-gru/versions/1/infer", JSON, _v2_json("sentiment-gru")),
    ("v2-binary", "/v2/models/forecast-gru/infer", FORECAST_BINARY_HEADERS, FORECAST_BINARY),
    ("unknown-model", "/v1/models/nope/predict", JSON, b'{"text": "x"}'),
    ("unknown-task", "/v1/compare/weather", JSON, b'{"text": "x"}'),
    ("bad-json", "/v1/models/sentiment-gru/predict", JSON, b'{"text": '),
    ("bad-media", "/v1/models/sentiment-gru/predict", {"content-type": "application/xml"}, b"<text/>"),
    ("empty-text", "/v1/models/sentiment-gru/predict", JSON, b'{"text": "   "}'),
    ("v2-no-inputs", "/v2/models/forecast-gru/infer", JSON, b'{"inputs": []}'),
    ("v2-wrong-version", "/v2/models/forecast-gru/versions/9/infer", JSON, _v2_json("forecast-gru")),
    ("v2-bad-binary-length", "/v2/models/forecast-gru/infer", {"inference-header-content-length": "99999"}, b"{}"),
    ("too-large", "/v1/models/sentiment-gru/predict", JSON, b'{"text": "' + b"a" * 200_001 + b'"}'),
    ("request-id", "/v1/models/sentiment-gru/predict", {**JSON, "x-request-id": "client-id-7"}, b'{"text": "ok"}'),
]


def _strip_timing(value: Any) -> Any:
    """The answer without its measured times (they differ from run to run)."""
    if isinstance(value, dict):
        return {k: _strip_timing(v) for k, v in value.items() if k not in {"timing"} and not k.endswith("_ms")}
    if isinstance(value, list):
        return [_strip_timing(v) for v in value]
    return value


def _answer(url: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], Any]:
    with httpx.Client(base_url=url, timeout=10) as client:
        resp = client.post(path, headers=headers, content=body)
    kept = {k: "…" if k in VOLATILE else v for k, v in resp.headers.items() if k not in CORS_ONLY}
    length = resp.headers.get("inference-header-content-length")
    if length is not None:  # the binary extension: compare the JSON header and the raw tensors apart
        return (
            resp.status_code,
            kept,
            (_strip_timing(json.loads(resp.content[: int(length)])), resp.content[int(length) :]),
        )
    return resp.status_code, kept, _strip_timing(resp.json())


@pytest.mark.parametrize(("path", "headers", "body"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_fast_path_answers_as_asgi_does(
    server: Server, asgi_server: Server, path: str, headers: dict[str, str], body: bytes
) -> None:
    fast = _answer(server.url, path, headers, body)
    asgi = _answer(asgi_server.url, path, headers, body)
    assert fast == asgi
    status, kept, _ = fast
    if status == 413:
        assert kept.get("connection") == "close"  # the rest of the body is not read as a request


def test_request_ids_are_echoed_or_made_on_both_paths(server: Server, asgi_server: Server) -> None:
    for url in (server.url, asgi_server.url):
        with httpx.Client(base_url=url, timeout=10) as client:
            echoed = client.post(
                "/v1/models/sentiment-gru/predict", json={"text": "ok"}, headers={"x-request-id": "r-9"}
            )
            made = [client.post("/v1/models/sentiment-gru/predict", json={"text": "ok"}) for _ in range(2)]
        assert echoed.headers["x-request-id"] == "r-9"
        assert len({r.headers["x-request-id"] for r in made}) == 2  # one connection, two answers, two IDs


def test_keep_alive_and_close_on_the_fast_path(server: Server) -> None:
    """Many answers on one connection; ``Connection: close`` from the client is honoured."""
    with httpx.Client(base_url=server.url, timeout=10) as client:
        answers = [client.post("/v1/models/sentiment-gru/predict", json={"text": f"film {i}"}) for i in range(20)]
        closed = client.post("/v1/models/sentiment-gru/predict", json={"text": "x"}, headers={"connection": "close"})
    assert [a.status_code for a in answers] == [200] * 20
    assert all(a.headers.get("connection") != "close" for a in answers)
    assert closed.status_code == 200 and closed.headers["connection"] == "close"


def test_only_hot_posts_take_the_fast_path() -> None:
    """POSTs to the four hot templates; not other methods, other paths, or ``Expect: 100-continue``
    (uvicorn's ASGI ``receive`` sends the interim 100 the fast path does not)."""

    class Cycle:
        def __init__(self, method: str, path: str, expect: bool = False) -> None:
            self.scope = {"method": method, "path": path}
            self.waiting_for_100_continue = expect

    fast = FastPath(HotRoutes([*V1_HOT, *V2_HOT]), None, None, None)  # type: ignore[arg-type]

    def matched(cycle: Cycle) -> tuple[str, dict[str, str]] | None:
        hit = fast.match(cycle)  # type: ignore[arg-type]
        return None if hit is None else (hit[0].path, hit[1])

    assert matched(Cycle("POST", "/v1/models/m/predict")) == ("/v1/models/{name}/predict", {"name": "m"})
    assert matched(Cycle("POST", "/v1/compare/sentiment")) == ("/v1/compare/{task}", {"task": "sentiment"})
    assert matched(Cycle("POST", "/v2/models/m/infer")) == ("/v2/models/{name}/infer", {"name": "m"})
    assert matched(Cycle("POST", "/v2/models/m/versions/2/infer")) == (
        "/v2/models/{name}/versions/{version}/infer",
        {"name": "m", "version": "2"},
    )
    assert matched(Cycle("GET", "/v1/models/m/predict")) is None
    assert matched(Cycle("POST", "/v1/models/m/predict/extra")) is None
    assert matched(Cycle("POST", "/v2/models/m/ready")) is None
    assert matched(Cycle("POST", "/v1/models/m/predict", expect=True)) is None


def test_pipelined_and_chunked_requests_on_the_fast_path(server: Server) -> None:
    """Requests pipelined on one connection are answered in order, hot and ASGI alike; a chunked
    body that arrives in pieces is read whole."""

    def request(method: str, path: str, request_id: str, body: bytes = b"") -> bytes:
        head = f"{method} {path} HTTP/1.1\r\nHost: t\r\nX-Request-ID: {request_id}\r\n"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        return head.encode() + b"\r\n" + body

    host, port = server.url.removeprefix("http://").split(":")
    predict = "/v1/models/sentiment-gru/predict"
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            request("POST", predict, "first", b'{"text": "good"}')
            + request("GET", "/v2/health/live", "second")
            + request("POST", predict, "third", b'{"text": "dull"}')
        )
        received = b""
        while received.count(b"x-request-id: ") < 3 or not received.endswith(b"}"):
            received += sock.recv(65536)
    answers = received.split(b"HTTP/1.1 ")[1:]
    assert [a.split(b"\r\n")[0] for a in answers] == [b"200 OK"] * 3
    assert [re.search(rb"x-request-id: (\S+)", a).group(1) for a in answers] == [b"first", b"second", b"third"]  # type: ignore[union-attr]
    assert [json.loads(a.split(b"\r\n\r\n", 1)[1]).get("model") for a in answers] == [
        "sentiment-gru",
        None,
        "sentiment-gru",
    ]

    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = f"POST {predict} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n".encode()
        sock.sendall(head + b'Transfer-Encoding: chunked\r\n\r\n5\r\n{"tex\r\n')
        time.sleep(0.2)
        sock.sendall(b'b\r\nt": "good"}\r\n0\r\n\r\n')
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200") and b'"model":"sentiment-gru"' in answer
