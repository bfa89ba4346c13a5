"""``/docs`` and ``/openapi.json``.

Swagger UI is served from the installed ``swagger-ui-bundle`` package, not a CDN, so the API page
works on an offline machine or inside an air-gapped container. The OpenAPI document names the
values the server actually serves: each ``{name}`` path parameter lists the loaded models, each
``{task}`` the tasks and each ``{version}`` the models' versions (it is built on first request,
after the models have loaded).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

STATIC = "/docs-static"


def _served_values(app: FastAPI) -> dict[str, list[str]]:
    plane = getattr(app.state, "plane", None)
    if plane is None:
        return {}
    models = plane.repository.models
    tasks = sorted({m.package.task for m in models.values() if m.package is not None})
    stateful = [v.name for v in plane.streaming.variants.values()]
    return {
        "name": sorted([*models, *stateful]),
        "task": tasks,
        "version": sorted({m.version for m in models.values()}),
    }


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with the path parameters' served values as enums."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        values = _served_values(app)
        for operations in schema["paths"].values():
            for operation in operations.values():
                for param in operation.get("parameters", []):
                    if param["in"] == "path" and values.get(param["name"]):
                        param["schema"]["enum"] = values[param["name"]]
        app.openapi_schema = schema
    return app.openapi_schema


def install_docs(app: FastAPI) -> None:
    """Mount the Swagger assets and the ``/docs`` page (create the app with ``docs_url=None``)."""
    app.mount(STATIC, StaticFiles(directory=swagger_ui_path), name="docs-static")
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} – API",
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url=f"{STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{STATIC}/favicon-32x32.png",
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
