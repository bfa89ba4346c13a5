"""``rnn-serve serve``: argparse → :class:`Settings` → uvicorn (uvloop + httptools).

On SIGTERM/SIGINT the server keeps serving for ``shutdown_delay_s`` (see :class:`_DrainingServer`),
then uvicorn stops accepting connections and lets in-flight requests finish for up to
``graceful_shutdown_s`` before the lifespan closes the model executors. The V2 gRPC front end
(``grpc_port``) serves through the same delay and drains at the same time, with the same grace.
After a SIGTERM drain the process exits 0: stopping was asked for, and it went as asked (uvicorn
would re-raise the signal, exit status 143, which supervisors read as a crash).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import time
from types import FrameType

import uvicorn
from pydantic import ValidationError

from service.app import create_app
from service.grpc.server import GrpcServer
from service.http.protocol import GuardedHttpToolsProtocol
from service.settings import Settings, add_cli_arguments, settings_from_args
from service.workers.supervisor import Supervisor

log = logging.getLogger("rnn_serve.server")


class _DrainingServer(uvicorn.Server):
    """uvicorn with a lame-duck period between SIGTERM and its graceful shutdown.

    uvicorn's shutdown closes the listening socket and every connection whose request it has not
    started parsing. Requests a client already sent that still sit unread (kernel accept backlog,
    or a busy event loop) are then reset, not drained. Serving on for ``shutdown_delay_s`` first
    lets the loop read and start them; uvicorn then waits for them as in-flight requests.
    """

    def __init__(self, config: uvicorn.Config, shutdown_delay_s: float, grpc: GrpcServer | None = None) -> None:
        super().__init__(config)
        self.shutdown_delay_s = shutdown_delay_s
        self.grpc = grpc

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM:  # drain, and exit 0: uvicorn's own handler re-raises the signal after
            self.should_exit = True
            return
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.shutdown_delay_s > 0 and not self.force_exit:
            log.info("shutdown requested: serving on for %.2f s before draining", self.shutdown_delay_s)
            deadline = time.monotonic() + self.shutdown_delay_s
            while time.monotonic() < deadline and not self.force_exit:
                await asyncio.sleep(0.05)
        if self.grpc is None:
            await super().shutdown(sockets)
            return
        grace = 0.0 if self.force_exit else self.config.timeout_graceful_shutdown
        await asyncio.gather(super().shutdown(sockets), self.grpc.stop(grace))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnn-serve serve",
        description="Serve every model package in the model repository over HTTP (task API + KServe V2) and "
        "KServe V2 over gRPC.",
    )
    add_cli_arguments(parser)
    return parser


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ValidationError as exc:  # a bad flag or env value: say which and why, as argparse would
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        parser.error(problems)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.workers > 1:
        return Supervisor(settings, lambda sock: serve(settings, [sock])).run()
    serve(settings)
    return 0


def serve(settings: Settings, sockets: list[socket.socket] | None = None) -> None:
    """One server process until it is stopped: on ``settings.host:port``, or on ``sockets`` (a worker,
    whose gRPC port is shared with the other workers: see :class:`~service.grpc.server.GrpcServer`)."""
    grpc = GrpcServer(settings, shared_port=sockets is not None) if settings.grpc_port else None
    app, fast_path = create_app(settings, grpc)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=GuardedHttpToolsProtocol.configured(settings, fast_path),
        log_level=settings.log_level,
        access_log=settings.access_log,
        timeout_graceful_shutdown=settings.graceful_shutdown_s,  # type: ignore[arg-type]  # any number works
        server_header=False,
        # No X-Forwarded-* rewriting: nothing here reads the client's address, and the middleware
        # would run on every request.
        proxy_headers=False,
    )
    _DrainingServer(config, settings.shutdown_delay_s, grpc).run(sockets=sockets)
