"""``create_app(settings)``: the composition root. Models load in the lifespan, before uvicorn
accepts a connection, so a server that answers is a server whose models are loaded and warm."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import Response

from service import __version__, docs, routes_stream, routes_v1, routes_v2
from service.batch_metrics import BatchCollector
from service.errors import install_error_handlers
from service.metrics import Metrics, RequestMiddleware
from service.repository import ModelRepository
from service.settings import Settings
from service.stream_metrics import SessionCollector
from service.streaming import Streaming

log = logging.getLogger("rnn_serve.app")

DESCRIPTION = """LSTM and GRU models for three tasks, served with onnxruntime.

* **Task API** (`/v1`): raw text, audio or history in; preprocessing runs in the service.
* **KServe V2** (`/v2`): Triton-compatible tensors in and out (`tritonclient[http]`, perf_analyzer).

Every prediction reports its latency (`timing` in the body, `Server-Timing` header).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        repository = await asyncio.to_thread(ModelRepository.load, settings)
        app.state.repository = repository
        metrics.known_names.update(repository.models)
        metrics.known_names.update(m.task for m in repository.models.values())
        metrics.registry.register(BatchCollector(lambda: repository.models.values()))
        app.state.streaming = await asyncio.to_thread(Streaming.load, repository, settings)
        app.state.streaming.start()
        metrics.registry.register(SessionCollector(app.state.streaming))
        try:
            yield
        finally:
            await app.state.streaming.stop()
            repository.close()

    app = FastAPI(
        title="rnn-serve", version=__version__, description=DESCRIPTION,
        docs_url=None, redoc_url=None, lifespan=lifespan,
        # Metrics are Prometheus (/metrics). FastAPI's native OpenTelemetry hooks would look up
        # the global tracer/meter/logger providers on every request for nothing.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.metrics = metrics
    install_error_handlers(app)
    app.add_middleware(RequestMiddleware, metrics=metrics)
    app.include_router(routes_v1.router)
    app.include_router(routes_v2.router)
    app.include_router(routes_stream.router)
    docs.install_docs(app)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus(request: Request) -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    return app
