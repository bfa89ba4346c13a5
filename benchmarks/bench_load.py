"""(c) for ``benchmarks.bench``: the highest open-loop rate each server sustains within the p99
bound, batching off and on side by side, and what one request costs the server in CPU there.

Why the CPU figures: batching can only raise throughput by what it saves per request, and it
saves ``session.run`` time only. The server's CPU per request (``/proc/<pid>/stat``: every
thread, user + system) next to the ``session.run`` time per request (Triton ``batch_stats``)
shows how much of a request batching can touch at all; the load client's own CPU per request
(this process) shares the same cores, so ``cores / (server + client CPU per request)`` is the
rate the machine could reach if nothing but CPU limited it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import time
from pathlib import Path
from typing import Any

from loadtest import LoadTestConfig
from loadtest import run as loadtest_run
from loadtest.servers import Server

P99_BOUND_MS = 50.0


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stats(url: str, name: str) -> tuple[int, int, int]:
    """(requests, session.run calls, session.run ns in all) of ``name`` so far (Triton stats)."""
    conn = http.client.HTTPConnection(url.removeprefix("http://"))
    conn.request("GET", f"/v2/models/{name}/stats")
    doc = json.loads(conn.getresponse().read())["model_stats"][0]
    conn.close()
    run_ns = sum(b["compute_infer"]["ns"] for b in doc["batch_stats"])
    return doc["inference_count"], doc["execution_count"], run_ns


def _point(server: Server, name: str, rate: float, args: argparse.Namespace) -> dict[str, Any]:
    cfg = LoadTestConfig(
        url=server.url,
        models=[name],
        rate=rate,
        duration=args.duration,
        warmup=args.warmup,
        rounds=1,
        quiet=True,
        max_payloads=args.payloads,
        seed=0,
        bootstrap_resamples=10,
    )
    rows0, _, run0 = _stats(server.url, name)
    cpu0, client0 = process_cpu_s(server.process.pid), process_cpu_s(os.getpid())
    m = loadtest_run(cfg)["models"][name]
    cpu1, client1 = process_cpu_s(server.process.pid), process_cpu_s(os.getpid())
    rows1, _, run1 = _stats(server.url, name)
    done = max(1, rows1 - rows0)
    ok = m["errors"] == 0 and m["p99_ms"] <= P99_BOUND_MS and m["throughput_rps"] >= 0.95 * m["sent_rps"]
    return {
        "offered_rps": rate,
        "ok": ok,
        "p50_ms": m["p50_ms"],
        "p99_ms": m["p99_ms"],
        "throughput_rps": m["throughput_rps"],
        "errors": m["errors"],
        "client_behind": m["client_behind"],
        "server_cpu_us_per_request": round((cpu1 - cpu0) * 1e6 / done, 1),
        "session_run_us_per_request": round((run1 - run0) / 1e3 / done, 1),
        "client_cpu_us_per_request": round((client1 - client0) * 1e6 / done, 1),
    }


def _settle(url: str, timeout_s: float = 30.0) -> None:
    """After an overloaded point, wait until the server has drained its backlog (in-flight = only
    this scrape), so the next point does not start behind."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=timeout_s)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
        found = re.search(r"^rnn_serve_requests_in_flight (\S+)$", text, re.M)
        if found is None or float(found[1]) <= 1:
            break
        time.sleep(0.2)
    time.sleep(0.5)


def _passes(server: Server, name: str, rate: float, args: argparse.Namespace, points: list[dict[str, Any]]) -> bool:
    """One load point; a failure is retried once, so one hiccup of a shared box does not end a ramp."""
    for _ in range(2):
        p = _point(server, name, rate, args)
        points.append(p)
        if p["ok"]:
            return True
        _settle(server.url)
    return False


def sustained(servers: dict[str, Server], name: str, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """(c) for every server side by side: at each rate of a ×1.5 ramp from ``--start-rps`` each
    still-running mode runs one point (order alternating). On a shared box a failure can be noise
    but a pass cannot (past capacity p99 explodes), so a mode stops only after two consecutive
    rates fail (each retried once); its figure is its highest passing rate, refined by
    ``--bisect`` steps towards the next failing rate."""
    urls = {mode: srv.url for mode, srv in servers.items()}
    before = {mode: _stats(url, name) for mode, url in urls.items()}
    state: dict[str, dict[str, Any]] = {m: {"good": 0.0, "bad": None, "fails": 0, "points": []} for m in urls}
    rate, flip = args.start_rps, False
    while rate <= args.max_rps and any(st["fails"] < 2 for st in state.values()):
        for mode in list(urls)[::-1] if flip else list(urls):
            st = state[mode]
            if st["fails"] >= 2:
                continue
            if _passes(servers[mode], name, rate, args, st["points"]):
                st["good"], st["fails"], st["bad"] = rate, 0, None
            else:
                st["fails"] += 1
                st["bad"] = st["bad"] or rate
        rate, flip = round(rate * 1.5), not flip
    for _ in range(args.bisect):
        for mode, st in state.items():
            if st["bad"] is None:
                continue
            mid = round((st["good"] + st["bad"]) / 2)
            if mid in (st["good"], st["bad"]):
                continue
            if _passes(servers[mode], name, mid, args, st["points"]):
                st["good"] = mid
            else:
                st["bad"] = mid
    out = {}
    for mode, st in state.items():
        rows0, runs0, _ = before[mode]
        rows1, runs1, _ = _stats(urls[mode], name)
        best = [p for p in st["points"] if p["offered_rps"] == st["good"] and p["ok"]]
        out[mode] = {
            "sustained_rps": st["good"],
            "first_failing_rps": st["bad"],
            "at_sustained": best[-1] if best else None,
            "mean_rows_per_run": (rows1 - rows0) / (runs1 - runs0) if runs1 > runs0 else None,
            "client_behind_anywhere": any(p["client_behind"] for p in st["points"]),
            "points": st["points"],
        }
    return out
