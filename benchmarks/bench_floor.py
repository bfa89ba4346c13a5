"""The floor under a Python HTTP server on this machine: ``python -m benchmarks.bench_floor``.

Three servers that do nothing but answer a small POST with a fixed JSON body, each pinned to one
core and driven by ``wrk -c<N>`` from the other, interleaved over rounds, server CPU per request
from ``/proc``:

* ``protocol``: a bare asyncio protocol on uvloop with httptools, what the fast path
  (``service/http/cycle.py``) builds on;
* ``asgi``: uvicorn (uvloop + httptools) with a bare ASGI callable;
* ``fastapi``: uvicorn with a FastAPI app and one no-op POST route.

The gaps between them are what the ASGI machinery and the framework cost per request before any
of the service's own work: the reason hot requests bypass both (``docs/performance.md``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
from typing import Any

from benchmarks.bench_load import process_cpu_s
from benchmarks.bench_vs_wrk import run_wrk, wrk_version
from loadtest.servers import free_port, stop, wait_ready
from loadtest.workload import Payload

KINDS = ("protocol", "asgi", "fastapi")
BODY = b'{"ok":true}'
RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(BODY), BODY)


def _protocol_server(port: int) -> None:
    import httptools
    import uvloop

    class Answer(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: Any = transport
            self.parser = httptools.HttpRequestParser(self)

        def data_received(self, data: bytes) -> None:
            self.parser.feed_data(data)

        def on_message_complete(self) -> None:
            asyncio.get_running_loop().create_task(self.answer())  # a task per request, as the fast path

        async def answer(self) -> None:
            self.transport.write(RESPONSE)

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Answer, "127.0.0.1", port)
        await server.serve_forever()

    uvloop.run(main())


async def _asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})


def _fastapi_app() -> Any:
    from fastapi import FastAPI, Request
    from fastapi.responses import Response

    app = FastAPI()

    @app.post("/v1/models/{name}/predict")
    async def predict(name: str, request: Request) -> Response:
        await request.body()
        return Response(BODY, media_type="application/json")

    @app.get("/v2/health/live")
    async def live() -> Response:
        return Response(BODY, media_type="application/json")

    return app


def serve(kind: str, port: int) -> None:
    if kind == "protocol":
        _protocol_server(port)
        return
    import uvicorn

    app = _asgi_app if kind == "asgi" else _fastapi_app()
    uvicorn.run(
        app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", access_log=False, log_level="warning"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("-c", "--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port)
        return 0
    if wrk_version() is None:
        raise SystemExit("wrk is not on PATH (apt-get install wrk)")
    cpus = os.cpu_count() or 1
    server_cpu, client_cpu = (str(cpus - 1), 0) if cpus >= 2 else (None, None)
    payload = [Payload(b'{"text": "a good film"}', "application/json")]
    procs: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    try:
        for kind in KINDS:
            port = free_port()
            cmd = [sys.executable, "-m", "benchmarks.bench_floor", "--serve", kind, "--port", str(port)]
            if server_cpu is not None:
                cmd = ["taskset", "-c", server_cpu, *cmd]
            proc = subprocess.Popen(cmd)
            procs[kind] = (proc, f"http://127.0.0.1:{port}")
        for proc, url in procs.values():
            wait_ready(url, proc, 30)
        rows: dict[str, list[tuple[float, float, float]]] = {k: [] for k in KINDS}
        for round_ in range(args.rounds + 1):  # the first round warms up and is discarded
            for kind, (proc, url) in procs.items():
                before = process_cpu_s(proc.pid)
                wrk = run_wrk(f"{url}/v1/models/m/predict", payload, args.concurrency, args.seconds, client_cpu)
                used = process_cpu_s(proc.pid) - before
                done = max(1.0, wrk["throughput_rps"] * max(1, round(args.seconds)))
                if round_:
                    rows[kind].append((used * 1e3 / done, wrk["throughput_rps"], wrk["p50_ms"]))
    finally:
        for proc, _ in procs.values():
            stop(proc)
    print(
        f"server on CPU {server_cpu}, wrk -t1 -c{args.concurrency} on CPU {client_cpu}; "
        f"{args.rounds} rounds x {args.seconds:g} s, interleaved; medians"
    )
    print("| server | CPU / request (ms) | req/s | p50 (ms) | CPU / request vs protocol |")
    print("|---|---|---|---|---|")
    base = statistics.median(r[0] for r in rows["protocol"])
    for kind in KINDS:
        cpu, rps, p50 = (statistics.median(r[i] for r in rows[kind]) for i in range(3))
        print(f"| {kind} | {cpu:.3f} | {rps:.0f} | {p50:.3f} | {cpu / base:.2f}× |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
