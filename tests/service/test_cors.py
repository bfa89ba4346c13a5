"""CORS (``cors_allow_origins``): off by default; listed origins get the headers, others do not;
``*`` only when asked for; preflights answered, refused ones in the usual JSON error shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from loadtest.servers import Server, run_server
from service.settings import Settings
from tests.service.conftest import ALLOWED_ORIGINS

ALLOWED = ALLOWED_ORIGINS[0]
OTHER = "http://elsewhere.example"
ACAO = "access-control-allow-origin"


def preflight(
    client: httpx.Client, path: str, origin: str, method: str = "POST", headers: str = "content-type"
) -> httpx.Response:
    return client.options(
        path,
        headers={"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers},
    )


@pytest.fixture(scope="module")
def any_origin_client(tiny_repo: Path) -> Iterator[httpx.Client]:
    """A server with ``*``, set through the environment variable."""
    server: Server
    with (
        run_server(tiny_repo, env={"RNN_SERVE_CORS_ALLOW_ORIGINS": "*"}, ready_path="/v2/health/ready") as server,
        httpx.Client(base_url=server.url, timeout=10) as c,
    ):
        yield c


def test_default_is_no_cors(client: httpx.Client) -> None:
    resp = client.get("/v1/models", headers={"Origin": OTHER})
    assert resp.status_code == 200 and ACAO not in resp.headers
    pre = preflight(client, "/v1/compare/sentiment", OTHER)
    assert pre.status_code == 405 and ACAO not in pre.headers and pre.json()["error"]
    assert "POST" in pre.headers["allow"]


def test_listed_origin_gets_the_headers(dash_client: httpx.Client) -> None:
    for origin in ALLOWED_ORIGINS:
        resp = dash_client.post("/v1/models/sentiment-gru/predict", json={"text": "fine"}, headers={"Origin": origin})
        assert resp.status_code == 200 and resp.headers[ACAO] == origin
        exposed = resp.headers["access-control-expose-headers"].lower()
        assert "server-timing" in exposed and "x-request-id" in exposed
    # errors too, or a page could not read why its request failed
    missing = dash_client.get("/v1/models/nope", headers={"Origin": ALLOWED})
    assert missing.status_code == 404 and missing.headers[ACAO] == ALLOWED


def test_listed_origin_preflight(dash_client: httpx.Client) -> None:
    pre = preflight(
        dash_client, "/v2/models/sentiment-gru/infer", ALLOWED, headers="content-type,inference-header-content-length"
    )
    assert pre.status_code == 200 and pre.headers[ACAO] == ALLOWED
    assert "POST" in pre.headers["access-control-allow-methods"]
    assert "inference-header-content-length" in pre.headers["access-control-allow-headers"].lower()
    assert pre.headers["x-request-id"]  # preflights pass the request middleware too
    # Chrome's Private Network Access: a listed public page may call a service on a private address
    private = dash_client.options(
        "/v1/models",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Private-Network": "true",
        },
    )
    assert private.status_code == 200 and private.headers["access-control-allow-private-network"] == "true"


def test_other_origins_get_nothing(dash_client: httpx.Client) -> None:
    resp = dash_client.get("/v1/models", headers={"Origin": OTHER})
    assert resp.status_code == 200 and ACAO not in resp.headers
    pre = preflight(dash_client, "/v1/compare/sentiment", OTHER)
    assert pre.status_code == 400 and ACAO not in pre.headers
    assert pre.json() == {
        "error": "Origin: an origin listed in cors_allow_origins",
        "field": "Origin",
        "rule": "an origin listed in cors_allow_origins",
    }
    bad_method = preflight(dash_client, "/v1/compare/sentiment", ALLOWED, method="PUT")
    assert bad_method.status_code == 400 and bad_method.json()["field"] == "Access-Control-Request-Method"


def test_star_allows_any_origin(any_origin_client: httpx.Client) -> None:
    resp = any_origin_client.get("/v2/health/ready", headers={"Origin": OTHER})
    assert resp.status_code == 200 and resp.headers[ACAO] == "*"
    pre = preflight(any_origin_client, "/v1/compare/sentiment", OTHER)
    assert pre.status_code == 200 and pre.headers[ACAO] == "*"


def test_origins_setting_is_checked_at_start_up() -> None:
    assert Settings().cors_origins == []
    assert Settings(cors_allow_origins=" http://a.example , https://b.example:8443 ").cors_origins == [
        "http://a.example",
        "https://b.example:8443",
    ]
    assert Settings(cors_allow_origins="*").cors_origins == ["*"]
    for bad in ("a.example", "http://a.example/", "http://a.example/app", "ftp://a.example", "http://a b"):
        with pytest.raises(ValidationError, match="not an origin"):
            Settings(cors_allow_origins=bad)
