"""The gRPC front end's lifecycle: a grpcio asyncio server on uvicorn's event loop.

It runs in the same process and on the same loop as HTTP, so both front ends share the data
plane, the models' runners and batching queues, and the in-flight count the inline rule reads.
The app's lifespan starts it once the models are loaded (:mod:`service.app`), and the server
drains it alongside HTTP on SIGTERM (:mod:`service.server`).
"""

from __future__ import annotations

import asyncio
import logging

import grpc

from service.dataplane import DataPlane
from service.grpc.service import InferenceService
from service.settings import Settings

log = logging.getLogger("rnn_serve.grpc")


class GrpcServer:
    """Starts (:meth:`start`) and drains (:meth:`stop`) the V2 gRPC front end on ``grpc_port``."""

    def __init__(self, settings: Settings, shared_port: bool = False) -> None:
        self.settings = settings
        #: a worker of ``--workers N``: every worker listens on the port with SO_REUSEPORT and the
        #: kernel spreads connections over them (the supervisor holds the port, so it is ours)
        self.shared_port = shared_port
        host = settings.host
        self.address = f"[{host}]:{settings.grpc_port}" if ":" in host else f"{host}:{settings.grpc_port}"
        self._server: grpc.aio.Server | None = None
        self._stopping: asyncio.Future[None] | None = None

    async def start(self, plane: DataPlane) -> None:
        """Listen on ``grpc_port``; a port that cannot be bound stops start-up with the reason."""
        limit = self.settings.max_body_bytes
        server = grpc.aio.server(
            options=[
                # No SO_REUSEPORT unless the port is shared with our own workers: a second server on
                # the same port must fail, not share it unseen.
                ("grpc.so_reuseport", int(self.shared_port)),
                # A message is a request body: the same cap as HTTP's (grpc answers RESOURCE_EXHAUSTED).
                ("grpc.max_receive_message_length", limit),
            ]
        )
        server.add_generic_rpc_handlers((InferenceService(plane).handler(),))
        try:
            server.add_insecure_port(self.address)
        except RuntimeError as exc:
            raise RuntimeError(
                f"gRPC cannot listen on {self.address} (grpc_port): address already in use, or not an "
                f"address of this machine ({exc})"
            ) from None
        await server.start()
        self._server = server
        log.info("KServe V2 gRPC on %s", self.address)

    async def stop(self, grace_s: float | None) -> None:
        """Stop accepting calls and let those in flight finish for up to ``grace_s``.

        Every caller waits for the one drain: the SIGTERM path starts it alongside HTTP's, and the
        lifespan must not close the models under calls still draining.
        """
        if self._stopping is None:
            if self._server is None:
                return
            self._stopping = asyncio.ensure_future(self._server.stop(grace_s))
        await asyncio.shield(self._stopping)
