"""Benchmark (d): the cost of a 1-step chunk of a streaming session must not grow with history.

``python -m benchmarks.bench_stream [--models models] [--histories 10,1000] [-n 2000] [--http-n 200]``

For every model with a step model, and each history length H:

* ``step``: one ``session.run`` of the step model on a 1-step chunk from the state after H steps
  (the state is kept fixed, so every timed chunk is at history exactly H), in-process, 1 thread.
* ``http``: end to end through the server: ``http-n`` V2 sequences per H (on the model's stateful
  ``<model>-stream`` variant) are started with H steps (untimed; in chunks of at most the model's
  ``max_sequence_length``, the longest chunk the server accepts); then one 1-step chunk (with
  ``sequence_end``) per sequence is timed at the client, alternating histories, so again at
  history exactly H. The server's ``inference_ms`` is reported beside it.
* ``one-shot``: what a stateless server would pay instead: ``model.onnx`` on all H + 1 steps.

Histories are measured interleaved (blocks of 50) so machine drift hits them alike; medians are
reported and the ratio history-max / history-min is the figure of merit (target ≤ 1.2× for the
streaming paths). A table per model goes to stdout, everything to ``out/bench_stream.json``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from service.package import MODEL_FILE, ModelPackage, StreamingSpec, read_package, verify_streaming
from service.runtime.sessions import SessionConfig, open_session
from service.runtime.step import StepModel, split_time
from service.streaming.streams import STREAM_SUFFIX
from service.tasks import TASKS, Task, task_for

BLOCK = 50
TARGET_RATIO = 1.2


def _streamable(folder: Path) -> tuple[ModelPackage, StreamingSpec, Task]:
    package = read_package(folder)
    if package.streaming is None:
        raise ValueError(f"{folder.name} has no step model")
    return package, package.streaming, task_for(package, folder, 1)


def _sequences(task: Task, spec: StreamingSpec, histories: list[int]) -> dict[int, np.ndarray]:
    """Per history H, a [1, H + 1, ...] chunk input: the task's own warm-up example repeated along
    time. Valid for any package (token ids within its vocabulary); values do not change an RNN's cost."""
    example = task.example_inputs()[spec.inputs[0].name][:1]
    return {h: np.take(example, np.arange(h + 1) % example.shape[1], axis=1) for h in histories}


def _interleaved(histories: list[int], n: int, timed: Any) -> dict[int, list[float]]:
    """``timed(h)`` → seconds, called ``n`` times per history in alternating blocks."""
    samples: dict[int, list[float]] = {h: [] for h in histories}
    while min(len(v) for v in samples.values()) < n:
        for h in histories:
            samples[h].extend(timed(h) for _ in range(min(BLOCK, n - len(samples[h]))))
    return samples


def in_process(folder: Path, histories: list[int], n: int) -> dict[str, dict[int, float]]:
    """Median µs of a 1-step chunk (step model) and of a stateless one-shot over H + 1 steps, both
    opened as the service opens them (``open_session``'s defaults: one thread, no arena)."""
    package, spec, task = _streamable(folder)
    step = StepModel.open(package.name, verify_streaming(folder, spec), spec, SessionConfig())
    full = open_session(folder / MODEL_FILE, SessionConfig())
    name = spec.inputs[0].name
    seqs = _sequences(task, spec, histories)
    feeds = {h: TASKS[package.task].feeds(seqs[h]) for h in histories}
    states = {h: step.run({name: seqs[h][:, :h]}, step.zero_state())[1] for h in histories}

    def chunk(h: int) -> float:
        started = time.perf_counter()
        step.run({name: seqs[h][:, h:]}, states[h])
        return time.perf_counter() - started

    def one_shot(h: int) -> float:
        started = time.perf_counter()
        full.run(None, feeds[h])
        return time.perf_counter() - started

    for h in histories:  # warm-up
        chunk(h), one_shot(h)
    out = {
        "step_us": {h: 1e6 * statistics.median(v) for h, v in _interleaved(histories, n, chunk).items()},
        "one_shot_us": {
            h: 1e6 * statistics.median(v) for h, v in _interleaved(histories, max(BLOCK, n // 10), one_shot).items()
        },
    }
    step.close()
    return out


def _v2(
    conn: http.client.HTTPConnection, model: str, spec: StreamingSpec, x: np.ndarray, seq: int, start: bool, end: bool
) -> dict[str, Any]:
    tensor = {
        "name": spec.inputs[0].name,
        "shape": list(x.shape),
        "datatype": spec.inputs[0].datatype,
        "data": x.ravel().tolist(),
    }
    body = json.dumps(
        {"parameters": {"sequence_id": seq, "sequence_start": start, "sequence_end": end}, "inputs": [tensor]}
    )
    conn.request("POST", f"/v2/models/{model}{STREAM_SUFFIX}/infer", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    payload: dict[str, Any] = json.loads(response.read())
    if response.status != 200:
        raise RuntimeError(f"{model}: HTTP {response.status}: {payload}")
    return payload


def over_http(url: str, folder: Path, histories: list[int], n: int) -> dict[str, dict[int, float]]:
    """Median ms of a timed 1-step V2 sequence chunk at history H (client wall, server inference).

    All ``n`` sequences per history are started (with their H steps, in chunks the server accepts)
    first; the timed chunks then alternate between histories, each on its own sequence: no timed
    chunk directly follows a long untimed one (which would leave the caches cold for H = 1000
    only), and none adds history.
    """
    package, spec, task = _streamable(folder)
    limit = task.max_sequence_length
    conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=30)
    seqs = _sequences(task, spec, histories)
    ids = {h: iter(range(1 + i * (n + 1), 1 + (i + 1) * (n + 1))) for i, h in enumerate(histories)}
    for i, h in enumerate(histories):
        for seq in range(1 + i * (n + 1), 1 + (i + 1) * (n + 1)):
            for k, part in enumerate(split_time(seqs[h][:, :h], [limit] * (h // limit))):
                _v2(conn, package.name, spec, part, seq, k == 0, False)
    server_ms: dict[int, list[float]] = {h: [] for h in histories}

    def timed(h: int) -> float:
        started = time.perf_counter()
        payload = _v2(conn, package.name, spec, seqs[h][:, h:], next(ids[h]), False, True)
        wall = time.perf_counter() - started
        server_ms[h].append(payload["parameters"]["inference_ms"])
        return wall

    for h in histories:  # warm-up: one chunk per history (hence n + 1 sequences each)
        timed(h)
    wall = _interleaved(histories, n, timed)
    conn.close()
    return {
        "client_ms": {h: 1e3 * statistics.median(v) for h, v in wall.items()},
        "server_inference_ms": {h: statistics.median(v) for h, v in server_ms.items()},
    }


def streaming_chunk_cost(
    repo: Path,
    histories: tuple[int, ...] = (10, 1000),
    n: int = 2000,
    http_n: int = 200,
    url: str | None = None,
    names: list[str] | None = None,
) -> dict[str, Any]:
    """Figures for every streamable model of ``repo`` (or of ``names`` only; ``benchmarks.bench``
    calls this); ``url`` of a running server on the same repository adds the HTTP figures."""
    hs = list(histories)
    results: dict[str, Any] = {}
    folders = sorted(p for p in Path(repo).iterdir() if (p / "model.json").is_file())
    for folder in (f for f in folders if names is None or f.name in names):
        package = read_package(folder)
        if package.streaming is None:
            continue
        entry: dict[str, Any] = {
            "recurrent_state_bytes": package.streaming.recurrent_state_bytes,
            "bytes_per_session": package.streaming.bytes_per_session,
            **in_process(folder, hs, n),
        }
        if url is not None and http_n > 0:
            entry.update(over_http(url, folder, hs, http_n))
        lo, hi = min(hs), max(hs)
        entry["ratio"] = {
            key: entry[key][hi] / entry[key][lo]
            for key in ("step_us", "one_shot_us", "client_ms", "server_inference_ms")
            if key in entry
        }
        results[package.name] = entry
    return results


def table(name: str, entry: dict[str, Any], histories: list[int]) -> str:
    lo, hi = min(histories), max(histories)
    rows = [
        ("1-step chunk, step model in-process (µs)", "step_us"),
        ("1-step chunk over HTTP, V2 sequence, client (ms)", "client_ms"),
        ("  server-reported inference (ms)", "server_inference_ms"),
        ("stateless alternative: one-shot over H+1 steps (µs)", "one_shot_us"),
    ]
    lines = [
        f"{name}  (state: {entry['recurrent_state_bytes']} B recurrent, {entry['bytes_per_session']} B per session)",
        f"  {'path':<54}{'history ' + str(lo):>14}{'history ' + str(hi):>14}{'ratio':>8}",
    ]
    for label, key in rows:
        if key in entry:
            lines.append(f"  {label:<54}{entry[key][lo]:>14.3f}{entry[key][hi]:>14.3f}{entry['ratio'][key]:>7.2f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_stream", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=Path, default=Path("models"))
    p.add_argument("--histories", default="10,1000")
    p.add_argument("-n", type=int, default=2000, help="timed in-process chunks per history and model")
    p.add_argument("--http-n", type=int, default=200, help="timed HTTP chunks per history and model (0: skip HTTP)")
    p.add_argument("--out", type=Path, default=Path("out") / "bench_stream.json")
    a = p.parse_args(argv)
    histories = [int(h) for h in a.histories.split(",")]
    started = time.time()
    if a.http_n > 0:
        from benchmarks.bench import serve  # the serving benchmark's server starter (one implementation)

        a.out.parent.mkdir(parents=True, exist_ok=True)
        with serve(a.models, {"RNN_SERVE_LOG_LEVEL": "warning"}, a.out.with_suffix(".server.log")) as server:
            results = streaming_chunk_cost(a.models, tuple(histories), a.n, a.http_n, server.url)
    else:
        results = streaming_chunk_cost(a.models, tuple(histories), a.n, 0)
    for name, entry in results.items():
        print(table(name, entry, histories) + "\n")
    worst = max(max(e["ratio"]["step_us"], e["ratio"].get("client_ms", 0)) for e in results.values())
    verdict = "PASS" if worst <= TARGET_RATIO else "FAIL"
    print(
        f"worst streaming ratio history {max(histories)} / {min(histories)}: {worst:.2f}x "
        f"(target ≤ {TARGET_RATIO}x): {verdict}"
    )
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(
        json.dumps(
            {
                "command": "python -m benchmarks.bench_stream",
                "histories": histories,
                "n": a.n,
                "http_n": a.http_n,
                "seconds": round(time.time() - started, 1),
                "target_ratio": TARGET_RATIO,
                "worst_ratio": worst,
                "models": results,
            },
            indent=2,
            default=str,
        )
        + "\n"
    )
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
