"""The dashboard (``/dashboard``, and ``/`` as the front door) and the two documents it reads
that no other route serves: recent latency percentiles (``/v1/latency``) and the training
results of the model repository (``/v1/results``).

The page is one static file, ``static/dashboard.html``, with its script and style inline: no
CDN, no build step, nothing fetched from anywhere but this server. It is sent with a
Content-Security-Policy that allows exactly its own inline script and style (by hash) and
requests to this origin, so the browser itself refuses anything else the page might try.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from importlib.resources import files
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from service.errors import InternalError, NotFound
from service.http.body import json_response, plane
from service.http.openapi import error_responses

RESULTS_FILE = "results.json"

router = APIRouter(tags=["dashboard data"])


class ModelLatency(BaseModel):
    model: str
    count: int
    n: int
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    mean_ms: float | None = None
    span_s: float | None = None
    age_s: float | None = None


class LatencyResponse(BaseModel):
    window: int
    time_unix_ms: int
    models: list[ModelLatency]


@router.get(
    "/v1/latency",
    response_model=LatencyResponse,
    summary="Latency percentiles of each model's last `latency_window` successful requests",
)
async def recent_latency(request: Request) -> Response:
    return json_response(plane(request).metrics.recent.snapshot())


@router.get(
    "/v1/results",
    response_model=dict[str, Any],
    responses=error_responses((404,)),
    summary="The model repository's results.json (training, test metrics, ORT latency, sweeps)",
)
async def results(request: Request) -> Response:
    path = plane(request).settings.model_repository / RESULTS_FILE
    try:
        raw = await asyncio.to_thread(path.read_bytes)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise NotFound(f"the model repository has no {RESULTS_FILE}", field="results") from None
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):  # a broken file of ours, not the client's fault
        raise InternalError(f"the model repository's {RESULTS_FILE} is not a JSON object")
    return Response(raw, media_type="application/json")


def _csp_hash(page: str, tag: str) -> str:
    """CSP source for the one inline ``<tag>`` of the page (its sha256, as browsers compute it)."""
    body = re.search(rf"<{tag}>(.*?)</{tag}>", page, re.S)
    if body is None:
        raise RuntimeError(f"dashboard.html has no <{tag}>")
    return "'sha256-" + base64.b64encode(hashlib.sha256(body.group(1).encode()).digest()).decode() + "'"


def page_headers(page: str) -> dict[str, str]:
    """Headers that pin the page to its own inline code and this origin."""
    csp = (
        f"default-src 'none'; script-src {_csp_hash(page, 'script')}; style-src {_csp_hash(page, 'style')}; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": csp,
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def install_dashboard(app: FastAPI) -> None:
    """The JSON routes, and the page at ``/dashboard`` and ``/`` (not in the OpenAPI document:
    they are HTML for people, not API)."""
    page = files("service.http").joinpath("static/dashboard.html").read_text(encoding="utf-8")
    headers = page_headers(page)
    app.include_router(router)

    # HEAD too: uptime checks and link checkers probe a front door with it.
    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    @app.api_route("/dashboard", methods=["GET", "HEAD"], include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        return HTMLResponse(page, headers=headers)
