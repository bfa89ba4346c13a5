"""Start each framework on one model, pinned to one CPU; read its CPU time; stop it by PID.

Every server runs under ``taskset -c <cpu>`` (so do its threads and child processes) and is
ready when its health route answers 200. rnn-serve runs from this checkout through
``loadtest.servers.run_server`` (the same process users run); MLServer and LitServe run from their
venvs under ``.peers/`` with the repository root on ``PYTHONPATH`` for the runtime modules.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.bench_load import process_cpu_s
from benchmarks.peers.venvs import PEERS_DIR, python_of
from loadtest.servers import REPO_ROOT, free_port, run_server, stop, wait_ready

HERE = Path(__file__).resolve().parent
#: the frameworks, in report order; the ratios are against ``BASELINE``
LABELS = {
    "rnn-serve-on": "rnn-serve (batching on)",
    "rnn-serve-off": "rnn-serve (batching off)",
    "mlserver": "MLServer 1.7.1, custom ONNX runtime, `parallel_workers: 0`",
    "mlserver-batching": "MLServer, same + adaptive batching (16 rows, 1 ms)",
    "litserve": "LitServe 0.2.19 (`fast_queue`)",
}
BASELINE = "mlserver-batching"


@dataclass
class Running:
    """A ready server: where it answers, and the PID whose process tree is its CPU."""

    key: str
    url: str
    pid: int

    def infer_url(self, model: str) -> str:
        return f"{self.url}/v2/models/{model}/infer"


def tree_pids(pid: int) -> list[int]:
    """``pid`` and every descendant (``/proc/<pid>/task/<tid>/children``), parents first."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    return out


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of the whole process tree under ``pid`` (every thread of each)."""
    total = 0.0
    for p in tree_pids(pid):
        try:
            total += process_cpu_s(p)
        except OSError:  # exited in between
            continue
    return total


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT) + (os.pathsep + path if path else "")}


@contextmanager
def _process(cmd: list[str], port: int, ready_path: str, cpu: str | None, log: Path) -> Iterator[int]:
    if cpu is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", cpu, *cmd]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=log.parent, stdout=out, stderr=subprocess.STDOUT, env=_env())
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc, 120.0, ready_path)
    except Exception as exc:
        stop(proc)
        raise RuntimeError(f"{cmd[0:6]}: {exc}\n--- log ---\n{log.read_text(errors='replace')[-4000:]}") from None
    try:
        yield proc.pid
    finally:
        family = tree_pids(proc.pid)[1:]  # LitServe's API server and worker outlive a stopped parent
        stop(proc)
        stop_pids(family)


def alive(pid: int) -> bool:
    """Running (not exited, not a zombie waiting for its new parent to reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop_pids(pids: list[int], timeout: float = 10.0) -> None:
    """SIGTERM each of ``pids`` (not our children: they may have been re-parented), then SIGKILL
    whichever is still there after ``timeout``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while (pids := [p for p in pids if alive(p)]) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not pids:
            return


def _mlserver_folder(folder: Path, model_dir: Path, batching: bool) -> int:
    """``settings.json`` (ours + free ports) and ``<model>/model-settings.json`` in ``folder``."""
    port = free_port()
    settings = json.loads((HERE / "mlserver" / "settings.json").read_text())
    settings |= {"http_port": port, "grpc_port": free_port(), "metrics_port": free_port()}
    (folder / "settings.json").write_text(json.dumps(settings, indent=2))
    which = "model-settings-batching.json" if batching else "model-settings.json"
    model = json.loads((HERE / "mlserver" / which).read_text())
    model |= {"name": model_dir.name, "parameters": {"uri": str(model_dir.resolve() / "model.onnx")}}
    (folder / model_dir.name).mkdir()
    (folder / model_dir.name / "model-settings.json").write_text(json.dumps(model, indent=2))
    return port


@contextmanager
def start(key: str, model_dir: Path, cpu: str | None, workdir: Path) -> Iterator[Running]:
    """Run framework ``key`` serving the package ``model_dir``; yield it once ready."""
    folder = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=workdir))
    with ExitStack() as stack:
        if key.startswith("rnn-serve"):
            repo = folder / "models"
            repo.mkdir()
            (repo / model_dir.name).symlink_to(model_dir.resolve())
            server = stack.enter_context(
                run_server(
                    repo,
                    env={"RNN_SERVE_BATCHING": "on" if key.endswith("-on") else "off"},
                    extra_args=["--log-level", "warning"],
                    ready_path="/v2/health/ready",
                    cpus=cpu,
                    log_dir=folder,
                )
            )
            yield Running(key, server.url, server.process.pid)
            return
        if key.startswith("mlserver"):
            port = _mlserver_folder(folder, model_dir, key.endswith("batching"))
            cmd = [str(PEERS_DIR / "mlserver" / "bin" / "mlserver"), "start", str(folder)]
            ready = "/v2/health/ready"
        elif key == "litserve":
            port = free_port()
            cmd = [str(python_of("litserve")), "-m", "benchmarks.peers.litserve_server"]
            cmd += ["--model-dir", str(model_dir.resolve()), "--port", str(port)]
            ready = "/health"
        else:
            raise ValueError(f"unknown framework {key!r}; known: {', '.join(LABELS)}")
        pid = stack.enter_context(_process(cmd, port, ready, cpu, folder / "server.log"))
        yield Running(key, f"http://127.0.0.1:{port}", pid)
