"""``service.bench`` results → the markdown table the README quotes (one source for the figures)."""

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


def markdown(results: dict[str, Any]) -> str:
    meta, runtime, models = results["metadata"], results.get("runtime") or {}, results["models"]
    batching = runtime.get("batching", {})
    lines = [
        f"Command: `{meta['command']}` — {meta['created_utc']}, {meta['cpus']} CPUs, "
        f"load average at the end {meta['loadavg_end']}, {meta['wall_s']} s.",
        f"Runtime: onnxruntime {runtime.get('onnxruntime_version')}, {runtime.get('execution_providers')}, "
        f"intra-op {runtime.get('intra_op_threads')} / inter-op {runtime.get('inter_op_threads')} threads, "
        f"graph optimisation `{runtime.get('graph_optimization_level')}`. Batching on = max "
        f"{batching.get('max_batch_size')} rows, max_queue_delay {batching.get('max_queue_delay_us')} µs, "
        f"queue {batching.get('max_queue_size')}.",
        f"Workload: {meta['workload']}. (c) = highest offered rate (open loop) that passed p99 ≤ {meta['p99_bound_ms']:g} ms, "
        "no errors, ≥ 95 % completed (off and on side by side at each rate). (c') = in-process, no HTTP, "
        "32 callers, medians of 3 alternating repeats.",
        "",
        "| model | (a) raw run p50 ms | (b) HTTP p50 / p99 ms (batching on) | (b)−(a) ms | (b)/(a) "
        "| HTTP p50 ms, batching off | (c) off req/s | (c) on req/s | (c) on/off | rows/run (on) | (c') in-process off → on req/s (rows/run) | (d) streaming |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    streaming = results.get("streaming") or {}
    for name, m in models.items():
        c1, off, on, ip = m["c1"], m.get("load_off") or {}, m.get("load_on") or {}, m.get("in_process") or {}
        over = c1["http_on_p50_ms"] - c1["raw_p50_ms"]
        gain = _ratio(on.get("sustained_rps"), off.get("sustained_rps"))
        flag = " (client behind)" if (on.get("at_sustained") or {}).get("client_behind") else ""
        lines.append(
            f"| {name} | {_f(c1['raw_p50_ms'])} | {_f(c1['http_on_p50_ms'])} / {_f(c1['http_on_p99_ms'])} "
            f"| {over:+.3f} {'✓' if over <= OVERHEAD_TARGET_MS else '✗'} | {_f(_ratio(c1['http_on_p50_ms'], c1['raw_p50_ms']), 1)}× "
            f"| {_f(c1['http_off_p50_ms'])} | {_f(off.get('sustained_rps'), 0)} | {_f(on.get('sustained_rps'), 0)}{flag} "
            f"| {_f(gain, 2)}×{' ✓' if gain and gain >= BATCHING_TARGET else (' ✗' if gain else '')} "
            f"| {_f(on.get('mean_rows_per_run'), 1)} | {_f(ip.get('off_rps'), 0)} → {_f(ip.get('on_rps'), 0)} "
            f"= {_f(ip.get('ratio'), 2)}× ({_f(ip.get('on_rows_per_run'), 1)}) | {_stream_cell(streaming.get(name))} |"
        )
    lines += ["", "GRU/LSTM (< 1: GRU faster / lower; for throughput > 1: GRU serves more):", "",
              "| task | (a) raw run p50 | (b) HTTP p50 (on) | (c) off | (c) on | (c') in-process on |",
              "|---|---|---|---|---|---|"]
    for task in ("sentiment", "keywords", "forecast"):
        lstm, gru = models.get(f"{task}-lstm"), models.get(f"{task}-gru")
        if not (lstm and gru):
            continue
        cells = [_ratio(gru["c1"]["raw_p50_ms"], lstm["c1"]["raw_p50_ms"]),
                 _ratio(gru["c1"]["http_on_p50_ms"], lstm["c1"]["http_on_p50_ms"])]
        for key in ("load_off", "load_on"):
            cells.append(_ratio((gru.get(key) or {}).get("sustained_rps"), (lstm.get(key) or {}).get("sustained_rps")))
        cells.append(_ratio((gru.get("in_process") or {}).get("on_rps"), (lstm.get("in_process") or {}).get("on_rps")))
        lines.append(f"| {task} | " + " | ".join(_f(c, 2) for c in cells) + " |")
    lines += ["", f"Targets: (b)−(a) ≤ {OVERHEAD_TARGET_MS} ms at concurrency 1; (c) on/off ≥ {BATCHING_TARGET}×. "
              f"(d) per-chunk cost at history 1,000 ≤ {STREAM_TARGET}× history 10 (1-step chunks, V2 sequence over HTTP, and the step model in-process)."]
    return "\n".join(lines) + "\n"
