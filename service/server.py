"""``rnn-serve serve``: argparse → :class:`Settings` → uvicorn (uvloop + httptools).

On SIGTERM/SIGINT uvicorn stops accepting connections and lets in-flight requests finish for up
to ``graceful_shutdown_s`` before the lifespan closes the model executors.
"""

from __future__ import annotations

import argparse
import logging

import uvicorn

from service.app import create_app
from service.settings import add_cli_arguments, settings_from_args


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnn-serve serve",
        description="Serve every model package in the model repository over HTTP (task API + KServe V2).",
    )
    add_cli_arguments(parser)
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    settings = settings_from_args(args)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = uvicorn.Config(
        create_app(settings), host=settings.host, port=settings.port,
        loop="uvloop", http="httptools", log_level=settings.log_level,
        access_log=settings.access_log, timeout_graceful_shutdown=settings.graceful_shutdown_s,
        server_header=False,
    )
    uvicorn.Server(config).run()
    return 0
