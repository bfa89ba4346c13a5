"""``benchmarks.bench`` results → the markdown table the README quotes (one source for the figures)."""

from __future__ import annotations

from typing import Any

OVERHEAD_TARGET_MS = 0.5
BATCHING_TARGET = 1.7
STREAM_TARGET = 1.2


def _f(x: float | None, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def _stream_cell(entry: dict[str, Any] | None) -> str:
    """(d): a 1-step chunk at history 10 → 1,000 over HTTP (client ms) and in-process (µs)."""
    if not entry:
        return "—"
    parts = []
    for key, unit, digits in (("client_ms", "ms HTTP", 3), ("step_us", "µs in-process", 1)):
        if key in entry:
            lo, hi = min(entry[key], key=float), max(entry[key], key=float)
            ratio = entry["ratio"][key]
            mark = "✓" if ratio <= STREAM_TARGET else "✗"
            parts.append(f"{entry[key][lo]:.{digits}f} → {entry[key][hi]:.{digits}f} {unit} = {ratio:.2f}× {mark}")
    return "; ".join(parts)


def _target(m: dict[str, Any]) -> dict[str, Any]:
    """The concurrency-1 figures the (b)−(a) target is judged on: wrk's when it ran, else http.client's."""
    target: dict[str, Any] = m.get("c1_wrk") or m["c1"]
    return target


def _wrk_run(models: dict[str, Any]) -> dict[str, Any] | None:
    """One model's wrk record (all models share the client, rounds and pinning), None without wrk."""
    return next((m["c1_wrk"] for m in models.values() if m.get("c1_wrk")), None)


def _pinning(w: dict[str, Any]) -> str:
    if w.get("pinned"):
        return f"server pinned to CPU {w['server_cpu']}"
    return "unpinned (< 2 CPUs or no taskset)"


def _target_label(results: dict[str, Any]) -> str:
    """Which client produced the (b) the target row uses, and where it ran — said next to every verdict."""
    w = _wrk_run(results["models"])
    if w is not None:
        return f"(b)−(a) with wrk -c1 (C client), {_pinning(w)}"
    why = (results.get("c1_client") or {}).get("why") or "wrk not measured"
    return f"(b)−(a) with Python http.client ({why}), client and server unpinned"


def _method(results: dict[str, Any]) -> str:
    w, meta = _wrk_run(results["models"]), results["metadata"]
    n = (meta.get("settings") or {}).get("n")
    py = (
        f"Python http.client: unpinned servers and client, {n} requests per mode interleaved request by "
        "request with raw runs (≈0.3 ms of the round trip is http.client's own)."
    )
    if w is None:
        return f"(a)/(b): {_target_label(results)}. {py}"
    where = (
        f"server pinned to CPU {w['server_cpu']} (taskset), wrk on CPU {w['client_cpu']}, (a) = raw runs on "
        f"CPU {w['server_cpu']} while the servers idle"
        if w.get("pinned")
        else "client and server unpinned"
    )
    version = (results.get("c1_client") or {}).get("wrk") or "wrk"
    return (
        f"(a)/(b): `{version}` -t1 -c1 (C client), its own pair of servers, {where}; {w['rounds']} "
        f"interleaved rounds × {w['seconds_per_block']:g} s blocks (wrk off / wrk on / raw runs, random order "
        f"per round, one discarded warm-up round) over the same {w['bodies']} bodies; medians of the round "
        f"p50s / p99s, (a) = median of every raw run (wrk's p99 includes its coordinated-omission back-fill). " + py
    )


def _span(values: list[float]) -> str:
    return f"{min(values):.3f}–{max(values):.3f}" if values else "—"


def _by_client(models: dict[str, Any]) -> list[str]:
    """Both concurrency-1 measurements side by side, every figure: nothing measured is dropped."""
    lines = [
        "",
        "Concurrency 1 by client (round p50 range = spread of wrk's per-round p50s):",
        "",
        "| model | client | (a) raw p50 ms | (b) on p50 / p99 ms | (b)−(a) on ms | on round p50 range "
        "| (b) off p50 / p99 ms | (b)−(a) off ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, m in models.items():
        for label, c in (
            (f"wrk -c1, {_pinning(m['c1_wrk'])}" if m.get("c1_wrk") else None, m.get("c1_wrk")),
            ("Python http.client, unpinned", m["c1"]),
        ):
            if not c:
                continue
            ranges = {mode: _span([r["p50_ms"] for r in c.get(f"http_{mode}_rounds", [])]) for mode in ("on", "off")}
            lines.append(
                f"| {name} | {label} | {_f(c['raw_p50_ms'])} | {_f(c['http_on_p50_ms'])} / {_f(c['http_on_p99_ms'])} "
                f"| {c['http_on_p50_ms'] - c['raw_p50_ms']:+.3f} | {ranges['on'] if 'http_on_rounds' in c else '—'} "
                f"| {_f(c['http_off_p50_ms'])} / {_f(c['http_off_p99_ms'])} "
                f"| {c['http_off_p50_ms'] - c['raw_p50_ms']:+.3f} |"
            )
    return lines


def _cpu_table(models: dict[str, Any], cpus: int) -> list[str]:
    """Where a request's CPU goes at each mode's sustained rate (``benchmarks.bench_load``), and the
    on/off ratio that CPU alone would allow: with server and client sharing the cores, the rate
    can rise by batching only as far as the CPU per request falls."""
    lines = [
        "",
        "CPU per request at the sustained rate (server: every thread of the process, user + system; "
        "session.run: Triton batch_stats, wall time, which under load includes waiting for a core and for "
        "the GIL; client: the load generator, on the same cores). CPU-bound rate = "
        f"{cpus} cores / (server + client CPU per request):",
        "",
        "| model | mode | req/s | server CPU µs/req | session.run wall µs/req | client CPU µs/req "
        "| CPU-bound rate | CPU-bound on/off |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, m in models.items():
        bounds: dict[str, float] = {}
        for mode in ("off", "on"):
            at = (m.get(f"load_{mode}") or {}).get("at_sustained") or {}
            if "server_cpu_us_per_request" not in at:
                continue
            server, run, client = (
                at["server_cpu_us_per_request"],
                at["session_run_us_per_request"],
                at["client_cpu_us_per_request"],
            )
            if server + client > 0:
                bounds[mode] = cpus * 1e6 / (server + client)
            ratio = _f(_ratio(bounds.get("on"), bounds.get("off")), 2) + "×" if mode == "on" else ""
            lines.append(
                f"| {name} | {mode} | {_f(at['throughput_rps'], 0)} | {server:.0f} | {run:.0f} "
                f"| {client:.0f} | {_f(bounds.get(mode), 0)} | {ratio} |"
            )
    return lines if len(lines) > 4 else []


def markdown(results: dict[str, Any]) -> str:
    meta, runtime, models = results["metadata"], results.get("runtime") or {}, results["models"]
    batching = runtime.get("batching", {})
    lines = [
        f"Command: `{meta['command']}` — {meta['created_utc']}, {meta['cpus']} CPUs, "
        f"load average at the end {meta['loadavg_end']}, {meta['wall_s']} s.",
        f"Runtime: onnxruntime {runtime.get('onnxruntime_version')}, {runtime.get('execution_providers')}, "
        f"intra-op {runtime.get('intra_op_threads')} / inter-op {runtime.get('inter_op_threads')} threads, "
        f"graph optimisation `{runtime.get('graph_optimization_level')}`. Batching on = max "
        f"{batching.get('max_batch_rows')} rows, max_queue_delay {batching.get('max_queue_delay_us')} µs, "
        f"queue {batching.get('max_queue_size')}.",
        f"Workload: {meta['workload']}. (c) = highest offered rate (open loop) that passed "
        f"p99 ≤ {meta['p99_bound_ms']:g} ms, "
        "no errors, ≥ 95 % completed (off and on side by side at each rate). (c') = in-process, no HTTP, "
        "32 callers, medians of 3 alternating repeats.",
        _method(results),
        "",
    ]
    wrk = _wrk_run(models) is not None
    client = "wrk -c1" if wrk else "Python http.client"
    py_head = " | Python http.client (b)−(a) ms: (a) → (b) on p50" if wrk else ""
    lines += [
        f"| model | (a) raw run p50 ms | (b) HTTP p50 / p99 ms (batching on, {client}) | (b)−(a) ms | (b)/(a) "
        f"| HTTP p50 ms, batching off{py_head} | (c) off req/s | (c) on req/s | (c) on/off | rows/run (on) "
        "| (c') in-process off → on req/s (rows/run) | (d) streaming |",
        "|---|---|---|---|---|---|" + ("---|" if wrk else "") + "---|---|---|---|---|---|",
    ]
    streaming = results.get("streaming") or {}
    for name, m in models.items():
        c1, off, on, ip = _target(m), m.get("load_off") or {}, m.get("load_on") or {}, m.get("in_process") or {}
        over = c1["http_on_p50_ms"] - c1["raw_p50_ms"]
        gain = _ratio(on.get("sustained_rps"), off.get("sustained_rps"))
        flag = " (client behind)" if (on.get("at_sustained") or {}).get("client_behind") else ""
        py = m["c1"]
        py_cell = (
            f" | {py['http_on_p50_ms'] - py['raw_p50_ms']:+.3f}: {_f(py['raw_p50_ms'])} → {_f(py['http_on_p50_ms'])}"
            if wrk
            else ""
        )
        lines.append(
            f"| {name} | {_f(c1['raw_p50_ms'])} | {_f(c1['http_on_p50_ms'])} / {_f(c1['http_on_p99_ms'])} "
            f"| {over:+.3f} {'✓' if over <= OVERHEAD_TARGET_MS else '✗'} "
            f"| {_f(_ratio(c1['http_on_p50_ms'], c1['raw_p50_ms']), 1)}× "
            f"| {_f(c1['http_off_p50_ms'])}{py_cell} | {_f(off.get('sustained_rps'), 0)} "
            f"| {_f(on.get('sustained_rps'), 0)}{flag} "
            f"| {_f(gain, 2)}×{' ✓' if gain and gain >= BATCHING_TARGET else (' ✗' if gain else '')} "
            f"| {_f(on.get('mean_rows_per_run'), 1)} | {_f(ip.get('off_rps'), 0)} → {_f(ip.get('on_rps'), 0)} "
            f"= {_f(ip.get('ratio'), 2)}× ({_f(ip.get('on_rows_per_run'), 1)}) | {_stream_cell(streaming.get(name))} |"
        )
    if wrk:
        lines += _by_client(models)
    lines += _cpu_table(models, meta["cpus"])
    lines += [
        "",
        f"GRU/LSTM (< 1: GRU faster / lower; for throughput > 1: GRU serves more; (a), (b) from {client}):",
        "",
        "| task | (a) raw run p50 | (b) HTTP p50 (on) | (c) off | (c) on | (c') in-process on |",
        "|---|---|---|---|---|---|",
    ]
    for task in ("sentiment", "keywords", "forecast"):
        lstm, gru = models.get(f"{task}-lstm"), models.get(f"{task}-gru")
        if not (lstm and gru):
            continue
        cells = [
            _ratio(_target(gru)["raw_p50_ms"], _target(lstm)["raw_p50_ms"]),
            _ratio(_target(gru)["http_on_p50_ms"], _target(lstm)["http_on_p50_ms"]),
        ]
        for key in ("load_off", "load_on"):
            cells.append(_ratio((gru.get(key) or {}).get("sustained_rps"), (lstm.get(key) or {}).get("sustained_rps")))
        cells.append(_ratio((gru.get("in_process") or {}).get("on_rps"), (lstm.get("in_process") or {}).get("on_rps")))
        lines.append(f"| {task} | " + " | ".join(_f(c, 2) for c in cells) + " |")
    lines += [
        "",
        f"Targets: (b)−(a) ≤ {OVERHEAD_TARGET_MS} ms at concurrency 1, {_target_label(results)}; "
        f"(c) on/off ≥ {BATCHING_TARGET}×. "
        f"(d) per-chunk cost at history 1,000 ≤ {STREAM_TARGET}× history 10 "
        "(1-step chunks, V2 sequence over HTTP, and the step model in-process).",
    ]
    return "\n".join(lines) + "\n"
