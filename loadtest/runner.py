"""Orchestration: warm-up, interleaved randomised A/B rounds, and the offered-rate sweep.

Machine drift (other processes, thermal state, caches) moves latency by more than the LSTM/GRU
difference on a shared 2-core box, so models are never run one after the other in two long
blocks: each round runs every model for ``duration`` seconds, in a freshly shuffled order, with
the same payload slice, and the comparison is made over rounds.
"""

from __future__ import annotations

import asyncio
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np

from loadtest import client
from loadtest.config import LoadTestConfig
from loadtest.recorder import Segment
from loadtest.schedule import intended_offsets
from loadtest.v2 import fetch_models, v2_payloads
from loadtest.workload import Examples, Payload, load_examples, task_of, v1_payloads


@dataclass
class Prepared:
    """Per-model routes and bodies, built once before anything is timed."""

    urls: dict[str, str]
    payloads: dict[str, list[Payload]]
    examples: dict[str, Examples]
    server_models: dict[str, dict[str, Any]]
    #: model → where its V2 preprocessing config came from (V2 only)
    v2_config: dict[str, str] = field(default_factory=dict)


@dataclass
class RunData:
    """Every recorded segment: ``points[rate][model]`` → rounds (``rate`` is None in the closed loop)."""

    prepared: Prepared
    points: dict[float | None, dict[str, list[Segment]]] = field(default_factory=dict)
    knee: dict[str, Any] | None = None


def prepare(cfg: LoadTestConfig) -> Prepared:
    """Look up each model's task, load its held-out examples, pre-serialise every body."""
    server_models = fetch_models(cfg.url)
    urls, payloads, examples, v2_config = {}, {}, {}, {}
    cache: dict[str, Examples] = {}
    for model in cfg.models:
        info = server_models.get(model)
        task = task_of(model, info)
        ex = cache.get(task) or load_examples(task, cfg.data, cfg.seed, cfg.max_payloads)
        cache[task] = ex
        examples[model] = ex
        if cfg.endpoint == "v1":
            urls[model] = f"{cfg.url}/v1/models/{model}/predict"
            payloads[model] = v1_payloads(ex)
        else:
            urls[model] = f"{cfg.url}/v2/models/{model}/infer"
            payloads[model], v2_config[model] = v2_payloads(ex, model, info, cfg.model_repository)
    if not server_models:
        _check_reachable(cfg.url)
    return Prepared(urls, payloads, examples, server_models, v2_config)


def _check_reachable(url: str) -> None:
    """Fail fast (instead of recording thousands of connection errors) when nothing listens at ``url``."""
    try:
        with urllib.request.urlopen(f"{url}/v2/health/live", timeout=5):
            pass
    except urllib.error.HTTPError:
        pass  # something answers HTTP: good enough, per-request errors will be counted
    except (urllib.error.URLError, OSError) as exc:
        raise ValueError(f"cannot reach the server at {url}: {getattr(exc, 'reason', exc)}") from None


def _progress(cfg: LoadTestConfig, total: int) -> tuple[object | None, Callable[[int], None] | None]:
    """A rich progress bar at 2 Hz (its refresh thread competes with the event loop), TTY only."""
    if cfg.quiet or not sys.stderr.isatty():
        return None, None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("loadtest"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        refresh_per_second=2,
        transient=True,
    )
    task_id = bar.add_task("requests", total=total)
    return bar, lambda n: bar.update(task_id, advance=n)


async def _segment(
    cfg: LoadTestConfig,
    session: aiohttp.ClientSession,
    prep: Prepared,
    model: str,
    rate: float | None,
    rnd: int,
    duration: float,
    first: int,
    tick: Callable[[int], None] | None,
) -> Segment:
    seg = Segment(model=model, round=rnd, offered_rps=rate, mode=cfg.mode, duration_s=duration)
    payloads = prep.payloads[model]
    if cfg.mode == "closed":
        await client.closed_loop(session, prep.urls[model], payloads, cfg.concurrency, duration, seg, first, tick)
    else:
        assert rate is not None
        offsets = intended_offsets(rate, duration, cfg.arrival, cfg.seed * 100_003 + rnd + 1)
        await client.open_loop(
            session, prep.urls[model], payloads, offsets, seg, cfg.late_threshold_ms / 1000, first, tick
        )
    return seg


async def _run_rate(
    cfg: LoadTestConfig,
    session: aiohttp.ClientSession,
    prep: Prepared,
    rate: float | None,
    rng: np.random.Generator,
    tick: Callable[[int], None] | None,
) -> dict[str, list[Segment]]:
    """Warm-up (discarded), then ``rounds`` rounds, model order shuffled per round."""
    if cfg.warmup > 0:
        for model in cfg.models:
            await _segment(cfg, session, prep, model, rate, -1, cfg.warmup, 0, None)
    per_round = int((rate or 100.0) * cfg.duration) + 1
    out: dict[str, list[Segment]] = {m: [] for m in cfg.models}
    for rnd in range(cfg.rounds):
        for idx in rng.permutation(len(cfg.models)):
            model = cfg.models[int(idx)]
            seg = await _segment(cfg, session, prep, model, rate, rnd, cfg.duration, rnd * per_round, tick)
            out[model].append(seg)
    # Segments are appended in execution order; keep each model's list in round order for pairing.
    for segs in out.values():
        segs.sort(key=lambda s: s.round)
    return out


def _past_knee(cfg: LoadTestConfig, rate: float, point: dict[str, list[Segment]]) -> dict[str, Any] | None:
    """Why ``rate`` is past the knee, else None.

    Past the knee = completions fall behind what was actually scheduled (achieved < fraction ×
    scheduled rate; with Poisson arrivals the scheduled count itself varies around the offered
    rate) or p99 exceeds the bound.
    """
    from loadtest.stats import merge, summarise_latency

    for model, segs in point.items():
        ok = sum(s.ok for s in segs)
        sent = sum(s.sent for s in segs)
        elapsed = sum(max(s.elapsed_s, s.duration_s) for s in segs)
        scheduled = sent / sum(s.duration_s for s in segs)
        achieved = ok / elapsed if elapsed else 0.0
        p99 = summarise_latency(merge([s.latency for s in segs]))["p99_ms"]
        reason = None
        if achieved < cfg.min_achieved_fraction * scheduled:
            reason = f"achieved {achieved:.1f}/s < {cfg.min_achieved_fraction:g} × scheduled {scheduled:.1f}/s"
        elif not p99 <= cfg.p99_bound_ms:
            reason = f"p99 {p99:.1f} ms > bound {cfg.p99_bound_ms:g} ms"
        if reason is not None:
            # If the generator itself fell behind, the knee may be the client's, not the server's.
            client_limited = sum(s.late for s in segs) > 0.01 * max(sent, 1)
            if client_limited:
                reason += " (client fell behind its schedule: knee may be the client's; pin it with taskset)"
            return {"offered_rps": rate, "model": model, "reason": reason, "client_limited": client_limited}
    return None


async def _run_async(cfg: LoadTestConfig, prep: Prepared) -> RunData:
    data = RunData(prepared=prep)
    rng = np.random.default_rng(cfg.seed)
    rates: list[float | None]
    if cfg.mode == "closed":
        rates = [None]
        total = cfg.rounds * len(cfg.models) * int(cfg.duration * 200)
    else:
        rates = list(cfg.sweep_rates()) if cfg.sweep else [cfg.rate]
        total = int(sum((r or 0.0) * cfg.duration * cfg.rounds * len(cfg.models) for r in rates))
    bar, tick = _progress(cfg, total)
    async with client.make_session(cfg.max_connections, cfg.timeout_s) as session:
        try:
            if bar is not None:
                bar.start()  # type: ignore[attr-defined]
            for rate in rates:
                data.points[rate] = await _run_rate(cfg, session, prep, rate, rng, tick)
                if cfg.sweep and rate is not None:
                    data.knee = _past_knee(cfg, rate, data.points[rate])
                    if data.knee is not None:
                        break
        finally:
            if bar is not None:
                bar.stop()  # type: ignore[attr-defined]
    return data


def event_loop_name() -> str:
    """uvloop when installed (it comes with uvicorn[standard]): it roughly halves the client's CPU
    per request, which matters when client and server share two cores."""
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    return f"uvloop {getattr(uvloop, '__version__', '?')}"


def execute(cfg: LoadTestConfig) -> RunData:
    """Prepare the workload, then run every rate (one, or the sweep) on one event loop."""
    prep = prepare(cfg)
    if event_loop_name().startswith("uvloop"):
        import uvloop

        return uvloop.run(_run_async(cfg, prep))
    return asyncio.run(_run_async(cfg, prep))
