"""``create_app(settings)``: the composition root. Models load in the lifespan, before uvicorn
accepts a connection, so a server that answers is a server whose models are loaded and warm.

The request path, as the folder list shows it: ``http/`` decodes and encodes (routes, bodies,
errors) → ``dataplane.py`` (timing, statistics, failures, for every way in) → ``tasks/``
(raw input ↔ tensors) or ``v2/`` (protocol tensors ↔ model feeds) → ``runtime/`` (the runner,
inline or on the model's thread) → ``batching/`` → onnxruntime; ``streaming/`` keeps sequence
state between calls; ``observability/`` counts it all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.types import ASGIApp

from service import __version__
from service.dataplane import DataPlane
from service.grpc.server import GrpcServer
from service.http import docs, sessions, v1, v2
from service.http.cors import with_cors
from service.http.cycle import FastPath
from service.http.dashboard import install_dashboard
from service.http.errors import install_error_handlers
from service.http.hot import HotRoutes
from service.observability.collectors import BatchCollector, SessionCollector
from service.observability.metrics import Metrics
from service.observability.middleware import RequestMiddleware
from service.runtime.repository import ModelRepository
from service.settings import Settings
from service.streaming.streams import Streaming
from service.workers.shared import COUNTERS

log = logging.getLogger("rnn_serve.app")

DESCRIPTION = """LSTM and GRU models for three tasks, served with onnxruntime.

* **Task API** (`/v1`): raw text, audio or history in; preprocessing runs in the service.
* **KServe V2** (`/v2`): Triton-compatible tensors in and out (`tritonclient[http]`, perf_analyzer);
  the same protocol over gRPC on `grpc_port` (`tritonclient[grpc]`, `perf_analyzer -i grpc`).

Every prediction reports its latency (`timing` in the body, `Server-Timing` header).
The dashboard is at [`/dashboard`](/dashboard); Prometheus metrics at `/metrics`.
"""


def create_app(settings: Settings | None = None, grpc: GrpcServer | None = None) -> tuple[ASGIApp, FastPath | None]:
    """The service as one ASGI app (request observation around CORS, when origins are set, around
    FastAPI, so preflights are counted like any request), and the fast path the HTTP protocol
    answers hot requests on (:mod:`service.http.cycle`; None while CORS is on, so every answer
    gets its CORS headers from the one middleware). ``grpc``, when given, is started by the
    lifespan on the same data plane once models are loaded."""
    settings = settings or Settings()
    metrics = Metrics(settings.latency_window, COUNTERS.metrics_dir)
    app = create_fastapi(settings, metrics, grpc)
    observer = RequestMiddleware(with_cors(app, settings.cors_origins), metrics)
    fast = None if settings.cors_origins else FastPath(HotRoutes([*v1.HOT, *v2.HOT]), app, observer, settings)
    return observer, fast


def create_fastapi(settings: Settings, metrics: Metrics, grpc: GrpcServer | None = None) -> FastAPI:
    """The FastAPI app: every route, the docs, the error handlers, and the lifespan that loads models."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        repository = await asyncio.to_thread(ModelRepository.load, settings)
        streaming = await asyncio.to_thread(Streaming.load, repository, settings)
        metrics.add_models([*repository.models, *(v.name for v in streaming.variants.values())])
        metrics.known_names.update(m.package.task for m in repository.models.values() if m.package)
        metrics.register(BatchCollector(repository.models.values))
        metrics.register(SessionCollector(streaming))
        app.state.plane = plane = DataPlane(repository, streaming, metrics, settings)
        streaming.start()
        try:
            if grpc is not None:
                await grpc.start(plane)
            yield
        finally:
            if grpc is not None:  # service.server starts this drain alongside HTTP's; wait for it here
                await grpc.stop(settings.graceful_shutdown_s)  # before the models close under its calls
            await streaming.stop()
            repository.close()

    app = FastAPI(
        title="rnn-serve",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        # Metrics are Prometheus (/metrics). FastAPI's native OpenTelemetry hooks would look up
        # the global tracer/meter/logger providers on every request for nothing.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    # No redirect from "/path/" to "/path": Starlette builds its Location from the Host header.
    app.router.redirect_slashes = False
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(v1.router)
    app.include_router(v2.router)
    app.include_router(sessions.router)
    docs.install_docs(app)
    install_dashboard(app)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus(request: Request) -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    return app
