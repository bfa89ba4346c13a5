"""``/docs`` works offline: its HTML references only local assets, and each one is served."""

from __future__ import annotations

import re

import httpx


def test_docs_are_local(client: httpx.Client) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger" in page.text.lower()
    urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
    assert urls, page.text
    for url in urls:
        assert not url.startswith(("http://", "https://", "//")), f"remote asset {url}"
        assert client.get(url).status_code == 200, url
    spec = client.get("/openapi.json").json()
    assert "/v1/models/{name}/predict" in spec["paths"] and "/v2/models/{name}/infer" in spec["paths"]
    body = spec["paths"]["/v1/models/{name}/predict"]["post"]["requestBody"]["content"]
    assert {"application/json", "audio/wav"} <= set(body)
