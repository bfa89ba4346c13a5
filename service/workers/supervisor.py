"""The parent of ``--workers N``: one listening socket, N forked servers, restarts, drain.

Why processes: one Python process runs one request's Python code at a time (the GIL), and the
service spends about as much CPU per request in Python (HTTP, JSON, preprocessing) as in
``session.run``. A second core therefore needs a second process. The parent binds the socket
once and every worker accepts on it, so the kernel spreads connections over the workers and
there is one address to scrape and probe, as with uvicorn's own ``--workers``.

gRPC (``grpc_port``) cannot be handed over the same way, since grpcio binds its own socket: the
parent holds the port with SO_REUSEPORT and each worker's gRPC server joins it.

The parent never loads a model or starts a thread: it forks, then only waits. A worker that dies
unexpectedly is replaced (its counters stay counted; its gauges are zeroed); one that keeps dying
within seconds of its start stops the server rather than loop. SIGTERM or SIGINT is passed on to
every worker as SIGTERM, which drains (see ``service/server.py``), and the parent exits 0 once
they all have.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from prometheus_client import multiprocess

from service.settings import Settings
from service.v2.stats import GAUGE_SLOTS
from service.workers.shared import COUNTERS, forget_gauges, layout

log = logging.getLogger("rnn_serve.workers")

#: a worker that dies this soon after its start counts towards :data:`MAX_QUICK_DEATHS`
QUICK_DEATH_S = 10.0
MAX_QUICK_DEATHS = 3


def _tcp_socket(host: str, option: int) -> socket.socket:
    """A TCP socket for ``host`` (IPv6 when it has a colon) with the SOL_SOCKET ``option`` on."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, option, 1)
    return sock


def bind(settings: Settings) -> socket.socket:
    """The listening socket every worker accepts on (bound before any worker exists; a forked
    worker inherits it)."""
    sock = _tcp_socket(settings.host, socket.SO_REUSEADDR)
    sock.bind((settings.host, settings.port))
    sock.listen(2048)
    return sock


def reserve_grpc(settings: Settings) -> socket.socket | None:
    """Hold ``grpc_port`` for the workers: bound with SO_REUSEPORT but not listening, so each worker's
    gRPC server can join it (grpcio binds its own socket) while a port already taken fails here, at
    once, rather than in every worker. None when gRPC is off."""
    if not settings.grpc_port:
        return None
    sock = _tcp_socket(settings.host, socket.SO_REUSEPORT)
    try:
        sock.bind((settings.host, settings.grpc_port))
    except OSError as exc:
        sock.close()
        raise OSError(
            exc.errno, f"gRPC cannot listen on {settings.host}:{settings.grpc_port} (grpc_port): {exc.strerror}"
        ) from None
    return sock


class Supervisor:
    """Forks ``settings.workers`` processes that each run ``serve(sock)``, and minds them."""

    def __init__(self, settings: Settings, serve: Callable[[socket.socket], None]) -> None:
        self.settings = settings
        self.serve = serve
        self.root = Path(tempfile.mkdtemp(prefix="rnn-serve-workers-"))
        self.stats_dir, self.metrics_dir = layout(self.root)
        self.children: dict[int, float] = {}  # pid → start time
        self.stopping = False
        self.failed = False

    def run(self) -> int:
        try:
            sock = bind(self.settings)
        except OSError as exc:  # one line, as uvicorn says it without workers
            log.error("cannot listen on %s:%d: %s", self.settings.host, self.settings.port, exc.strerror)
            return 1
        try:
            grpc_hold = reserve_grpc(self.settings)
        except OSError as exc:
            sock.close()
            log.error("%s", exc.strerror)
            return 1
        host, port = sock.getsockname()[:2]
        log.info("%d workers serving on http://%s:%d (parent pid %d)", self.settings.workers, host, port, os.getpid())
        # prometheus_client reads the folder from the environment when a worker creates a metric
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(self.metrics_dir)
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        try:
            for _ in range(self.settings.workers):
                self._spawn(sock)
            return self._mind(sock)
        finally:
            sock.close()
            if grpc_hold is not None:
                grpc_hold.close()
            shutil.rmtree(self.root, ignore_errors=True)

    def _spawn(self, sock: socket.socket) -> None:
        pid = os.fork()
        if pid == 0:  # the worker: its own signal handling (uvicorn's), the shared counters, serve
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            code = 1
            try:
                COUNTERS.share(self.root)
                self.serve(sock)
                code = 0
            except BaseException:  # a worker must never return into the parent's loop
                log.exception("worker %d failed", os.getpid())
            finally:
                logging.shutdown()
                os._exit(code)
        self.children[pid] = time.monotonic()
        log.info("worker %d started", pid)

    def _mind(self, sock: socket.socket) -> int:
        """Wait for workers to exit; replace the ones that die unasked. The exit status."""
        quick_deaths = 0
        while self.children:
            pid, status = os.wait()
            started = self.children.pop(pid, None)
            if started is None:
                continue
            if self.stopping:
                log.info("worker %d stopped (%s)", pid, _describe(status))
                continue
            log.error("worker %d died unasked (%s); starting another", pid, _describe(status))
            multiprocess.mark_process_dead(pid, str(self.metrics_dir))  # type: ignore[no-untyped-call]
            forget_gauges(self.stats_dir, pid, GAUGE_SLOTS)
            quick_deaths = quick_deaths + 1 if time.monotonic() - started < QUICK_DEATH_S else 0
            if quick_deaths >= MAX_QUICK_DEATHS:
                log.critical("%d workers died within %.0f s of starting: stopping", quick_deaths, QUICK_DEATH_S)
                self.failed = True
                self._stop(signal.SIGTERM, None)
                continue
            self._spawn(sock)
        return 1 if self.failed else 0

    def _stop(self, sig: int, frame: FrameType | None) -> None:
        """SIGTERM to every worker (for SIGINT too: a second SIGINT would make uvicorn skip the drain,
        and a terminal's Ctrl-C already reaches each worker once)."""
        self.stopping = True
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):  # it died meanwhile; os.wait will tell
                os.kill(pid, signal.SIGTERM)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"
