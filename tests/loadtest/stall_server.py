"""A tiny stand-in model server that can freeze on purpose, for testing the load tester.

It serves the same routes the load tester uses (``/v1/models``, ``/v1/models/{name}/predict``,
``/v2/models/{name}/infer``, ``/v2/health/live``) with a ``Server-Timing`` header, and
optionally blocks its whole event loop for ``--stall-ms`` every ``--period-ms``: a server-side
stall (GC pause, noisy neighbour) that an honest open-loop measurement must show and a closed
loop hides. ``--delay-ms name=ms`` gives a model a fixed non-blocking service time, so an A/B
ratio has a known direction; ``--busy-ms`` makes every request hold the loop, which caps capacity
at 1000 / busy_ms requests/s so a rate sweep has a known knee.

Run: ``python tests/loadtest/stall_server.py --port 8123 --stall-ms 300 --period-ms 1000``.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from aiohttp import web

MODELS = ["sentiment-lstm", "sentiment-gru", "keywords-lstm", "keywords-gru", "forecast-lstm", "forecast-gru"]


def build_app(stall_ms: float, period_ms: float, delays_ms: dict[str, float], busy_ms: float = 0.0) -> web.Application:
    app = web.Application(client_max_size=16 * 1024 * 1024)

    async def stall_forever(_: web.Application) -> None:
        while True:
            await asyncio.sleep(period_ms / 1000)
            time.sleep(stall_ms / 1000)  # block the loop on purpose: the server is frozen

    async def start_stalls(app_: web.Application) -> None:
        if stall_ms > 0:
            app_["stall"] = asyncio.create_task(stall_forever(app_))

    async def stop_stalls(app_: web.Application) -> None:
        if "stall" in app_:
            app_["stall"].cancel()

    async def predict(request: web.Request) -> web.Response:
        start = time.perf_counter()
        name = request.match_info["name"]
        if name not in MODELS:
            return web.json_response({"error": f"model {name!r} not found"}, status=404)
        await request.read()
        delay = delays_ms.get(name, 0.0)
        if delay:
            await asyncio.sleep(delay / 1000)
        if busy_ms:
            time.sleep(busy_ms / 1000)  # serialised service time: capacity = 1000 / busy_ms req/s
        total = (time.perf_counter() - start) * 1000
        timing = {
            "queue_ms": 0.01,
            "preprocess_ms": 0.05,
            "inference_ms": max(total - 0.08, 0.0),
            "postprocess_ms": 0.02,
            "total_ms": total,
        }
        header = ", ".join(f"{k[:-3]};dur={v:.3f}" for k, v in timing.items())
        body = {"model": name, "predictions": [{"label": "positive", "probability": 0.9}], "timing": timing}
        return web.json_response(body, headers={"Server-Timing": header})

    async def models(_: web.Request) -> web.Response:
        return web.json_response({"models": [{"name": m, "task": m.split("-")[0], "ready": True} for m in MODELS]})

    async def live(_: web.Request) -> web.Response:
        return web.json_response({"live": True})

    app.router.add_post("/v1/models/{name}/predict", predict)
    app.router.add_post("/v2/models/{name}/infer", predict)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/v2/health/live", live)
    app.on_startup.append(start_stalls)
    app.on_cleanup.append(stop_stalls)
    return app


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--stall-ms", type=float, default=0.0)
    p.add_argument("--period-ms", type=float, default=1000.0)
    p.add_argument("--delay-ms", action="append", default=[], help="name=ms")
    p.add_argument("--busy-ms", type=float, default=0.0, help="blocking service time per request")
    args = p.parse_args()
    delays = {k: float(v) for k, v in (item.split("=", 1) for item in args.delay_ms)}
    web.run_app(
        build_app(args.stall_ms, args.period_ms, delays, args.busy_ms),
        host="127.0.0.1",
        port=args.port,
        print=None,
        access_log=None,
    )


if __name__ == "__main__":
    main()
