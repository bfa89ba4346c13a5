"""Every class of bad input → a 4xx JSON error naming the field and the rule; never a 500 or hang."""

from __future__ import annotations

import base64
import socket
from urllib.parse import urlparse

import httpx
import pytest

from loadtest.servers import Server
from tests.service.conftest import history, tone, wav_bytes

SENT = "/v1/models/sentiment-gru/predict"
KW = "/v1/models/keywords-gru/predict"
FC = "/v1/models/forecast-lstm/predict"
JSON = {"content-type": "application/json"}
WAV = {"content-type": "audio/wav"}


def _bad(rows: int = 96, cols: int = 7, value: float | None = None) -> list:
    h = history(rows, cols)
    if value is not None:
        h[3][2] = value
    return h


# (id, path, headers, raw body, expected status, expected field (None = any), word in the error)
CASES = [
    ("malformed-json", SENT, JSON, b'{"text": "oops"', 400, "body", "JSON"),
    ("empty-body", SENT, JSON, b"", 400, "body", "empty"),
    ("nan-literal", FC, JSON, b'{"history": [[NaN]]}', 400, "body", "JSON"),
    ("wrong-type", SENT, JSON, b'{"text": 5}', 422, "text", "string"),
    ("neither-text-nor-texts", SENT, JSON, b'{"txt": "hi"}', 422, None, "txt"),
    ("both-text-and-texts", SENT, JSON, b'{"text": "a", "texts": ["b"]}', 422, "body", "exactly one"),
    ("empty-text", SENT, JSON, b'{"text": "   "}', 422, "text", "at least one"),
    ("over-long-text", SENT, JSON, ('{"text": "%s"}' % ("good " * 400)).encode(), 422, "text", "at most"),
    ("too-many-tokens", SENT, JSON, ('{"text": "%s"}' % ("a " * 100)).encode(), 422, "text", "tokens"),
    ("empty-texts-item", SENT, JSON, b'{"texts": ["fine", ""]}', 422, "texts[1]", "at least one"),
    ("too-many-texts", SENT, JSON, ('{"texts": [%s]}' % ",".join(['"a"'] * 65)).encode(), 400, "texts", "at most 64"),
    (
        "wrong-content-type",
        SENT,
        {"content-type": "text/plain"},
        b'{"text": "a"}',
        415,
        "Content-Type",
        "application/json",
    ),
    ("wav-to-sentiment", SENT, WAV, wav_bytes(tone()), 415, "Content-Type", "application/json"),
    ("not-a-wav", KW, WAV, b"RIFF....this is not audio", 422, "body", "PCM WAV"),
    ("wav-wrong-rate", KW, WAV, wav_bytes(tone(), rate=16000), 422, "body", "8000 Hz"),
    ("wav-stereo", KW, WAV, wav_bytes(tone(), channels=2), 422, "body", "mono"),
    ("wav-too-long", KW, WAV, wav_bytes(tone(8000 * 5)), 422, "body", "at most"),
    ("bad-base64", KW, JSON, b'{"audio_base64": "!!!not base64"}', 422, "audio_base64", "base64"),
    (
        "base64-not-wav",
        KW,
        JSON,
        ('{"audio_base64": "%s"}' % base64.b64encode(b"hello").decode()).encode(),
        422,
        "audio_base64",
        "WAV",
    ),
    ("samples-wrong-rate", KW, JSON, b'{"samples": [0.1, 0.2], "sample_rate": 16000}', 422, "sample_rate", "8000"),
    ("samples-no-rate", KW, JSON, b'{"samples": [0.1, 0.2]}', 422, None, "sample_rate"),
    ("samples-empty", KW, JSON, b'{"samples": [], "sample_rate": 8000}', 422, "samples", "at least one"),
    ("samples-out-of-range", KW, JSON, b'{"samples": [3.0], "sample_rate": 8000}', 422, "samples", "[-1, 1]"),
    ("keywords-bad-type", KW, {"content-type": "audio/mpeg"}, b"ID3", 415, "Content-Type", "audio/wav"),
    ("history-flat", FC, JSON, ('{"history": [%s]}' % ",".join(["1.0"] * 96)).encode(), 422, "history", "rows of 7"),
    ("history-short", FC, JSON, ('{"history": %s}' % _bad(rows=95)).encode(), 422, "history", "96 rows"),
    ("history-wide", FC, JSON, ('{"history": %s}' % _bad(cols=8)).encode(), 422, "history", "rows of 7"),
    ("history-inf", FC, JSON, ('{"history": %s}' % _bad(value=1e309)).encode(), 400, "body", "JSON"),
    ("history-strings", FC, JSON, b'{"history": [["a"]]}', 422, "history", "history"),
    ("unknown-model", "/v1/models/sentiment-rnn/predict", JSON, b'{"text": "a"}', 404, "model", "unknown model"),
    ("unknown-task", "/v1/compare/vision", JSON, b'{"text": "a"}', 404, "task", "unknown task"),
    ("too-large", SENT, JSON, b'{"text": "' + b"a" * 300_000 + b'"}', 413, "body", "at most"),
]


@pytest.mark.parametrize(
    ("path", "headers", "body", "status", "field", "word"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input(
    client: httpx.Client, path: str, headers: dict, body: bytes, status: int, field: str | None, word: str
) -> None:
    resp = client.post(path, content=body, headers=headers)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/json"
    err = resp.json()
    assert word.lower() in err["error"].lower(), err
    if field is not None:
        assert err["field"] == field, err


def test_unknown_route_and_method_use_error_shape(client: httpx.Client) -> None:
    assert client.get("/nope").json()["error"].startswith("Not Found")
    resp = client.get(SENT)
    assert resp.status_code == 405 and "error" in resp.json()


def test_chunked_body_over_limit_is_413(client: httpx.Client) -> None:
    """No Content-Length: the limit is enforced while streaming."""

    def chunks():
        yield b'{"text": "'
        for _ in range(30):
            yield b"a" * 10_000
        yield b'"}'

    resp = client.post(SENT, content=chunks(), headers=JSON)
    assert resp.status_code == 413 and resp.json()["field"] == "body"


def test_truncated_request_does_not_hurt_the_server(server: Server, client: httpx.Client) -> None:
    """A client that promises 1000 bytes and hangs up after 10 leaves the server serving."""
    url = urlparse(server.url)
    with socket.create_connection((url.hostname, url.port), timeout=5) as sock:
        sock.sendall(
            b"POST " + SENT.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n" + b'{"text": "'
        )
    assert client.post(SENT, json={"text": "still fine"}).status_code == 200


def test_forecast_history_ok_after_bad(client: httpx.Client) -> None:
    assert client.post(FC, json={"history": history()}).status_code == 200
