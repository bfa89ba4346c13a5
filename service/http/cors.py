"""CORS (``cors_allow_origins``): which browser pages on other origins may call the API.

Off by default: no CORS headers, and a preflight is an ordinary ``OPTIONS`` (405 with ``Allow``),
so a page elsewhere cannot read any answer. When origins are set, Starlette's ``CORSMiddleware``
answers preflights and adds the headers; it sits inside the request middleware, so preflights get
request IDs and are counted like every other request. The response headers a client of this
service needs (``Server-Timing``, ``X-Request-ID``, ``Retry-After``, the V2 binary header length)
are exposed, or a browser would hide them from the page. A refused preflight gets the service's
JSON error shape instead of Starlette's plain text.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp

from service.errors import BadRequest, bad_field
from service.http.errors import error_response

#: the methods some route serves (a preflight for another one is refused)
METHODS = ("GET", "HEAD", "POST", "DELETE", "OPTIONS")
EXPOSED = ("Server-Timing", "X-Request-ID", "Retry-After", "Inference-Header-Content-Length", "Allow")
#: what a refused preflight asked for → the request header that carried it
_FAILED_FIELD = {
    "origin": ("Origin", "an origin listed in cors_allow_origins"),
    "method": ("Access-Control-Request-Method", f"one of {', '.join(METHODS)}"),
}


class JsonCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, with refused preflights in the service's error shape."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        failed = bytes(response.body).decode().rpartition("Disallowed CORS ")[2].split(", ")
        field, rule = _FAILED_FIELD.get(failed[0], ("Access-Control-Request-Headers", "allowed request headers"))
        return error_response(bad_field(BadRequest, field, rule))


def with_cors(app: ASGIApp, origins: list[str]) -> ASGIApp:
    """``app`` behind the CORS middleware when ``origins`` is not empty, else ``app`` itself (no
    cost per request while CORS is off). It wraps the hot routes too: their answers need the
    headers as much as any other."""
    if not origins:
        return app
    return JsonCORSMiddleware(
        app,
        allow_origins=origins,
        allow_methods=METHODS,
        allow_headers=["*"],
        # A listed page on a public origin may call a service on a private address (Chrome's
        # Private Network Access preflight): listing the origin is the operator's consent.
        allow_private_network=True,
        expose_headers=EXPOSED,
        max_age=600,
    )
