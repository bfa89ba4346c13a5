"""The deployment map of the GRU/LSTM speed ratio: ``taskset -c 1 python -m export.deployment``.

Why: "GRU is faster than LSTM" is a claim about one point (batch 1, one thread, fp32, raw
``session.run``). A deployer chooses threads, batch size and precision, and pays HTTP on top; the
ranking may flip anywhere in that space. This maps ``ratio = GRU p50 / LSTM p50`` (above 1: the
LSTM is faster) over intra-op threads × batch rows × precision, raw and served, per task.

Precision int8 is "what a deployer who quantizes gets": there is no GRU int8 package
(onnxruntime has no integer GRU kernel, see :mod:`export.quantize`), so the int8 ratio is the
fp32 GRU against the int8 LSTM. The batch is the task's latency example (:func:`example_of`)
repeated to the batch size, so every cell runs the same shapes. Raw: one session per model and
thread setting, the three models of a task alternating in blocks (:func:`session_latency`).
Served: one ``rnn-serve serve`` per thread setting on a temporary repository of the nine
packages, KServe V2 ``/infer`` with binary tensors carrying the whole batch at concurrency 1
(:func:`served_latency`), models alternating in blocks; ``max_batch_rows`` is raised to the
largest batch so a request runs as one ``session.run`` as it does raw. Medians throughout; this
VM is shared, so only ratios measured side by side mean much.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from export.benchmarks import example_of, session_latency
from export.int8 import held_out
from export.served import Request, served_latency
from export.sweeps import save_section
from service.package import MODEL_FILE, read_package
from service.runtime.sessions import SessionConfig, open_session
from service.tasks import TASKS as TASK_TYPES

TASKS = ("sentiment", "keywords", "forecast")
THREADS = (1, 2)
BATCHES = (1, 8, 32)
PRECISIONS = ("fp32", "int8")
#: the packages that play each role; the int8 GRU is the fp32 one (no integer GRU kernel exists)
ROLES = {"lstm-fp32": "{task}-lstm", "lstm-int8": "{task}-lstm-int8", "gru-fp32": "{task}-gru"}
PAIRS = {"fp32": ("lstm-fp32", "gru-fp32"), "int8": ("lstm-int8", "gru-fp32")}
#: (rounds, {batch: calls per block}); quick is for tests
RAW = {False: (6, {1: 40, 8: 12, 32: 5}), True: (2, {1: 3, 8: 2, 32: 2})}
SERVED = {False: (6, 10), True: (2, 2)}
V2_DATATYPE = {np.dtype(np.float32): "FP32", np.dtype(np.int64): "INT64"}
FIGURE = "figures/deployment_map.png"


def _records(
    task: str, threads: int, batch: int, mode: str, p50: dict[str, float], cpu: dict[str, float] | None = None
) -> list[dict[str, Any]]:
    """One record per precision from the p50 of each role (and, raw, the CPU ms per call)."""
    out = []
    for precision, (lstm, gru) in PAIRS.items():
        record = {
            "task": task,
            "threads": threads,
            "batch": batch,
            "precision": precision,
            "mode": mode,
            "lstm_p50_ms": p50[lstm],
            "gru_p50_ms": p50[gru],
            "ratio": p50[gru] / p50[lstm],
        }
        if cpu is not None:
            record |= {"lstm_cpu_ms": cpu[lstm], "gru_cpu_ms": cpu[gru], "cpu_ratio": cpu[gru] / cpu[lstm]}
        out.append(record)
    return out


def raw_records(models_dir: Path, task: str, xs: Any, quick: bool) -> list[dict[str, Any]]:
    """Raw ``session.run`` over threads × batches, the three roles alternating in blocks."""
    rounds, blocks = RAW[quick]
    records: list[dict[str, Any]] = []
    for threads in THREADS:
        config = SessionConfig(intra_op_threads=threads)
        sessions = {
            role: open_session(models_dir / name.format(task=task) / MODEL_FILE, config) for role, name in ROLES.items()
        }
        for batch in BATCHES:
            lat = session_latency(sessions, task, example_of(task, xs, batch), rounds, blocks[batch])
            p50 = {role: v["median_ms"] for role, v in lat.items()}
            records += _records(task, threads, batch, "raw", p50, {role: v["cpu_median_ms"] for role, v in lat.items()})
    return records


def v2_request(model: str, feeds: dict[str, np.ndarray]) -> Request:
    """A binary-tensor KServe V2 ``/infer`` request (JSON header, then the raw tensors)."""
    header = {
        "inputs": [
            {
                "name": name,
                "shape": list(arr.shape),
                "datatype": V2_DATATYPE[arr.dtype],
                "parameters": {"binary_data_size": arr.nbytes},
            }
            for name, arr in feeds.items()
        ],
        "parameters": {"binary_data_output": True},
    }
    head = json.dumps(header).encode()
    body = head + b"".join(np.ascontiguousarray(arr).tobytes() for arr in feeds.values())
    headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(head))}
    return Request(f"/v2/models/{model}/infer", body, headers)


def served_records(models_dir: Path, inputs: dict[str, Any], quick: bool) -> list[dict[str, Any]]:
    """The real server per thread setting over a temporary repository of every task's three roles."""
    rounds, block = SERVED[quick]
    requests: dict[str, Request] = {}
    for task, xs in inputs.items():
        implicit = TASK_TYPES[task].implicit_inputs
        for batch in BATCHES:
            feeds = {k: v for k, v in TASK_TYPES[task].feeds(example_of(task, xs, batch)).items() if k not in implicit}
            for role, name in ROLES.items():  # a cell's three roles side by side in the block order
                requests[f"{task}/{batch}/{role}"] = v2_request(name.format(task=task), feeds)
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="deployment-repo-") as tmp:
        for task in inputs:
            for name in ROLES.values():
                (Path(tmp) / name.format(task=task)).symlink_to((models_dir / name.format(task=task)).resolve())
        for threads in THREADS:
            env = {"RNN_SERVE_INTRA_OP_THREADS": str(threads), "RNN_SERVE_MAX_BATCH_ROWS": str(max(BATCHES))}
            lat = served_latency(Path(tmp), requests, env=env, rounds=rounds, block=block)
            for task in inputs:
                for batch in BATCHES:
                    p50 = {role: lat[f"{task}/{batch}/{role}"]["median_ms"] for role in ROLES}
                    records += _records(task, threads, batch, "served", p50)
    return records


def _cell(records: list[dict[str, Any]], **key: Any) -> dict[str, Any]:
    return next(r for r in records if all(r[k] == v for k, v in key.items()))


def plot(records: list[dict[str, Any]], path: Path) -> None:
    """One heat map per task × mode: rows precision × threads, columns batch, colour log2(ratio)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = [t for t in TASKS if any(r["task"] == t for r in records)]
    rows = [(p, t) for p in PRECISIONS for t in THREADS]
    fig, axes = plt.subplots(
        len(tasks), 2, figsize=(10, 2.8 * len(tasks) + 0.8), squeeze=False, sharey=True, layout="constrained"
    )
    for i, task in enumerate(tasks):
        for j, mode in enumerate(("raw", "served")):
            ax = axes[i][j]
            grid = np.array(
                [
                    [_cell(records, task=task, mode=mode, precision=p, threads=t, batch=b)["ratio"] for b in BATCHES]
                    for p, t in rows
                ]
            )
            image = ax.imshow(np.log2(grid), cmap="RdBu", vmin=-2, vmax=2, aspect="auto")
            for (y, x), ratio in np.ndenumerate(grid):
                colour = "white" if abs(np.log2(ratio)) > 1.2 else "black"
                ax.text(x, y, f"{ratio:.2f}", ha="center", va="center", fontsize=9, color=colour)
            ax.set_xticks(range(len(BATCHES)), [f"batch {b}" for b in BATCHES])
            ax.set_yticks(range(len(rows)), [f"{p}, {t} thread{'s' * (t > 1)}" for p, t in rows])
            ax.set_title(f"{task}, {mode}", fontsize=10)
    fig.colorbar(image, ax=axes, label="log2(GRU p50 / LSTM p50); blue: LSTM faster", shrink=0.5)
    fig.suptitle("GRU/LSTM latency ratio; int8 rows: int8 LSTM vs fp32 GRU (no GRU int8 exists)", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def render(section: dict[str, Any]) -> list[str]:
    """The ``RESULTS.md`` section: the ratio per task × mode × precision over threads × batch."""
    records = section["records"]
    head = " | ".join(f"{t} thr, b{b}" for t in section["threads"] for b in section["batches"])
    lines = [
        "## Deployment map: GRU/LSTM latency ratio",
        "",
        f"Generated by `{section['command']}` in {section['wall_seconds']:.0f} s on CPUs {section['cpus']}: "
        "ratio = GRU p50 / LSTM p50 (above 1: the LSTM is faster). Raw `session.run` and served (the real "
        "server, V2 `/infer` with binary tensors carrying the batch, concurrency 1); models alternating in "
        "blocks, medians. int8 = the int8 LSTM against the fp32 GRU (no GRU int8 exists: what a deployer who "
        f"quantizes gets). Figure: [{section['figure']}]({section['figure']}); p50s: `results.json` "
        "`sweeps.deployment.records`.",
        "",
        f"| task | mode | precision | {head} |",
        "|---|---|---|" + "---|" * (len(section["threads"]) * len(section["batches"])),
    ]
    for task in [t for t in TASKS if any(r["task"] == t for r in records)]:
        for mode in ("raw", "served"):
            for precision in PRECISIONS:
                ratios = [
                    _cell(records, task=task, mode=mode, precision=precision, threads=t, batch=b)["ratio"]
                    for t in section["threads"]
                    for b in section["batches"]
                ]
                lines.append(f"| {task} | {mode} | {precision} | " + " | ".join(f"{x:.2f}" for x in ratios) + " |")
    cols = [(t, b) for t in section["threads"] for b in section["batches"]]
    lines += [
        "",
        "Raw, by process CPU time per call instead of wall time (a neighbour preempting this process "
        "mid-run inflates the wall time, not the CPU time; with 2 threads it also counts pool spinning):",
        "",
        f"| task | precision | {head} |",
        "|---|---|" + "---|" * len(cols),
    ]
    for task in [t for t in TASKS if any(r["task"] == t for r in records)]:
        for precision in PRECISIONS:
            ratios = [
                _cell(records, task=task, mode="raw", precision=precision, threads=t, batch=b)["cpu_ratio"]
                for t, b in cols
            ]
            lines.append(f"| {task} | {precision} | " + " | ".join(f"{x:.2f}" for x in ratios) + " |")
    faster = sum(r["ratio"] > 1 for r in records)
    lines += ["", f"The LSTM is the faster cell in {faster} of {len(records)} cells."]
    n_cpus = len(section["cpus"].split(","))
    if n_cpus < max(section["threads"]):
        lines[-1] += (
            f" Only {n_cpus} CPU was available, so the {max(section['threads'])}-thread columns are intra-op "
            "threads sharing it (a 1-CPU container with `intra_op_threads=2`), not a multi-core deployment."
        )
    return lines


def run(
    models_dir: Path, runs: Path | None = None, quick: bool = False, data: dict[str, Path] | None = None
) -> dict[str, Any]:
    """Measure every task whose three roles are packaged in ``models_dir``; save ``sweeps.deployment``.

    ``quick``: a few calls per cell (tests); ``data``: each task's data as :func:`task_paths` lays it
    out (default ``../shared/data``); ``runs`` is unused (nothing is trained or cached).
    """
    del runs
    started = time.perf_counter()
    tasks = [t for t in TASKS if all((models_dir / n.format(task=t) / MODEL_FILE).is_file() for n in ROLES.values())]
    inputs = {}
    for task in tasks:
        lstm = models_dir / ROLES["lstm-fp32"].format(task=task)
        inputs[task] = held_out(lstm, read_package(lstm), (data or {}).get(task)).xs
    records = [r for task in tasks for r in raw_records(models_dir, task, inputs[task], quick)]
    records += served_records(models_dir, inputs, quick)
    plot(records, models_dir / FIGURE)
    section = {
        "command": "taskset -c 1 python -m export.deployment",
        "cpus": ",".join(map(str, sorted(os.sched_getaffinity(0)))),
        "threads": list(THREADS),
        "batches": list(BATCHES),
        "int8_pairing": "int8 LSTM vs fp32 GRU (no GRU int8 package: onnxruntime has no integer GRU kernel)",
        "raw": {"rounds": RAW[quick][0], "calls_per_block": RAW[quick][1]},
        "served": {"rounds": SERVED[quick][0], "requests_per_block": SERVED[quick][1], "concurrency": 1},
        "records": records,
        "figure": FIGURE,
        "wall_seconds": time.perf_counter() - started,
    }
    return save_section(models_dir, "deployment", section)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m export.deployment", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("models"))
    a = p.parse_args(argv)
    for line in render(run(a.out)["sweeps"]["deployment"]):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
