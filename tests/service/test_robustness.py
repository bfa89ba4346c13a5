"""Junk of every kind at every POST route: always a 4xx JSON error, never a 500 or a hang."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

ROUTES = [f"/v1/models/{t}-{c}/predict" for t in ("sentiment", "keywords", "forecast") for c in ("lstm", "gru")]
ROUTES += ["/v1/compare/sentiment", "/v1/compare/keywords", "/v1/compare/forecast"]
ROUTES += [f"/v2/models/{t}-gru/infer" for t in ("sentiment", "keywords", "forecast")]

JUNK: list[bytes] = [
    b"",
    b"null",
    b"[]",
    b"42",
    b'"text"',
    b"{}",
    b"[" * 5000 + b"]" * 5000,
    b"\xff\xfe\x00garbage",
    b'{"text": null}',
    b'{"texts": "not a list"}',
    b'{"history": null}',
    b'{"history": "abc"}',
    b'{"history": {"a": 1}}',
    b'{"samples": "x", "sample_rate": "fast"}',
    b'{"audio_base64": 7}',
    b'{"inputs": "x"}',
    b'{"inputs": [1, 2]}',
    b'{"inputs": [{"name": "tokens"}]}',
    b'{"inputs": [], "parameters": 5}',
    b'{"parameters": [], "inputs": [{"name": "history", "parameters": 3}]}',
    b'{"inputs": [{"name": "features", "shape": "x", "datatype": "FP32", "data": []}]}',
    b'{"inputs": [{"name": "history", "shape": [1, 96, 7], "datatype": "FP32", "data": null}]}',
    b'{"inputs": [{"name": "tokens", "shape": [1, 0], "datatype": "INT64", "data": []}]}',
    b'{"inputs": [{"name": "tokens", "shape": [1, 99999999999], "datatype": "INT64", "data": [1]}]}',
    b'{"inputs": [{"name": "history", "shape": [1, 96, 7], "datatype": "FP32", "parameters": {"binary_data_size": true}}]}',
]


@pytest.mark.parametrize("route", ROUTES)
def test_junk_never_500(client: httpx.Client, route: str) -> None:
    rng = np.random.default_rng(len(route))
    bodies = [*JUNK, rng.bytes(200), json.dumps({"text": "x" * 10, "extra": 1}).encode()]
    for body in bodies:
        for ctype in ("application/json", None):
            headers = {"content-type": ctype} if ctype else {}
            resp = client.post(route, content=body, headers=headers)
            assert 400 <= resp.status_code < 500, (route, body[:80], resp.status_code, resp.text)
            assert "error" in resp.json()
