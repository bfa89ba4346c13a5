"""Smoke runs of the benchmarks behind docs/performance.md (their shape, never a speed):
``bench_workers`` (1 vs 2 worker processes), ``profile_server`` (py-spy on a loaded server),
``bench_batching_curve`` (batching's gain against the model's own run time), ``bench_cpu``
(batching on against off; the gRPC path) and ``bench_floor`` (do-nothing servers)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from benchmarks import bench_batching_curve, bench_cpu, bench_floor, bench_workers, profile_server
from loadtest import perf_analyzer
from tests.service.tiny_models import build_tiny_repository

needs_wrk = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not on PATH (Debian: apt-get install wrk)")


def _ptrace_allowed() -> bool:
    """py-spy reads another process's memory: root, or Yama's ptrace_scope 0."""
    scope = Path("/proc/sys/kernel/yama/ptrace_scope")
    return os.geteuid() == 0 or not scope.exists() or scope.read_text().strip() == "0"


@pytest.fixture(scope="module")
def tiny_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_repository(tmp_path_factory.mktemp("cores") / "models", names=("sentiment-gru", "keywords-gru"))


@needs_wrk
def test_bench_workers(tiny_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--model-repository", str(tiny_repo), "--models", "sentiment-gru", "--concurrency", "4"]
    assert bench_workers.main([*argv, "--seconds", "1", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| sentiment-gru |"))
    one, two, ratio, p50_one, p50_two = (float(c) for c in row.strip("|").split("|")[1:])
    assert min(one, two, p50_one, p50_two) > 0
    assert ratio == pytest.approx(two / one, abs=0.01)


def test_shares_from_collapsed_stacks() -> None:
    collapsed = "\n".join(
        [
            "thread (1): MainThread;run (a.py:1);decode (codec.py:3) 6",
            "thread (1): MainThread;run (a.py:1);run (a.py:9);send (b.py:2) 2",
            "thread (2): worker;work (t.py:4) 2",
        ]
    )
    inclusive, own, total = profile_server.shares(collapsed)
    assert total == 10
    assert inclusive["run (a.py)"] == 8  # recursion counted once per stack
    assert own == {"decode (codec.py)": 6, "send (b.py)": 2, "work (t.py)": 2}


@needs_wrk
@pytest.mark.skipif(
    shutil.which("py-spy") is None and not (Path(sys.executable).parent / "py-spy").exists(),
    reason="py-spy not installed (a dev dependency: pip install py-spy)",
)
@pytest.mark.skipif(not _ptrace_allowed(), reason="py-spy needs ptrace rights over the server (root or ptrace_scope 0)")
def test_profile_server(tiny_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--model-repository", str(tiny_repo), "--model", "sentiment-gru", "--path", "task"]
    assert profile_server.main([*argv, "--seconds", "1", "--top", "5", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "sentiment-gru-task.svg").read_text().lstrip().startswith("<?xml")
    shares = [float(line.rsplit("|", 2)[1].strip().rstrip("%")) for line in out.splitlines() if line.endswith("% |")]
    assert shares and all(0 < s <= 100 for s in shares)


@needs_wrk
def test_bench_batching_curve(tiny_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--model-repository", str(tiny_repo), "--model", "keywords-gru", "--hidden", "8", "16"]
    out_json = tmp_path / "curve.json"
    assert (
        bench_batching_curve.main([*argv, "--rounds", "1", "--seconds", "1", "-c", "4", "--json", str(out_json)]) == 0
    )
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("| 8 |", "| 16 |"))]
    assert len(rows) == 2
    doc = json.loads(out_json.read_text())
    for hidden in ("8", "16"):
        r = doc[hidden]
        assert min(r["raw_ms"], r["model_speedup"], r["off_rps"], r["on_rps"]) > 0 and r["rows_per_run"] >= 1
        assert r["gain"] == pytest.approx(r["on_rps"] / r["off_rps"])
    # the rebuilt package is what was served: a bigger net, the same inputs and outputs
    small = bench_batching_curve.package_at(tiny_repo / "keywords-gru", 8, tmp_path / "a")
    big = bench_batching_curve.package_at(tiny_repo / "keywords-gru", 16, tmp_path / "b")
    meta = [json.loads((p / "model.json").read_text()) for p in (small, big)]
    assert meta[1]["parameter_count"] > meta[0]["parameter_count"] and meta[0]["streaming"] is None
    assert (
        meta[0]["inputs"]
        == meta[1]["inputs"]
        == json.loads((tiny_repo / "keywords-gru" / "model.json").read_text())["inputs"]
    )


@needs_wrk
def test_bench_cpu_batching_ab(tiny_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Batching on against off, interleaved: one row per server and their ratio row."""
    argv = ["--model-repository", str(tiny_repo), "--models", "sentiment-gru", "--paths", "task", "-c", "4"]
    assert bench_cpu.main([*argv, "--quick", "--batching-ab"]) == 0
    rows = [line.strip("|").split("|") for line in capsys.readouterr().out.splitlines() if "| sentiment-gru |" in line]
    by_server = {cells[2].strip(): [c.strip() for c in cells[3:]] for cells in rows}
    assert set(by_server) == {"on", "off", "on / off"}
    on, off = (float(by_server[k][4]) for k in ("on", "off"))  # req/s
    assert min(on, off) > 0
    assert float(by_server["on / off"][4].rstrip("×")) == pytest.approx(on / off, abs=0.01)


@needs_wrk
def test_bench_cpu_grpc_path(tiny_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The gRPC path, driven by perf_analyzer with the same tensors as V2 JSON."""
    try:
        perf_analyzer.install()
    except perf_analyzer.Unavailable as exc:
        pytest.skip(str(exc))
    argv = ["--model-repository", str(tiny_repo), "--models", "keywords-gru", "--paths", "v2-json", "grpc"]
    assert bench_cpu.main([*argv, "--quick", "-c", "2"]) == 0
    out = capsys.readouterr().out
    rows = {r.split("|")[2].strip(): r.split("|")[4:] for r in out.splitlines() if r.startswith("| keywords-gru |")}
    assert set(rows) == {"v2-json", "grpc"}
    for cells in rows.values():
        cpu, run, outside, rps = (float(c) for c in cells[:4])
        assert cpu > 0 and rps > 0 and outside == pytest.approx(cpu - run, abs=0.002)


@needs_wrk
def test_bench_floor(capsys: pytest.CaptureFixture[str]) -> None:
    """The three do-nothing servers each answer and are measured; the bare protocol is the unit."""
    assert bench_floor.main(["--seconds", "1", "--rounds", "1", "-c", "2"]) == 0
    rows = {
        cells[1].strip(): [c.strip() for c in cells[2:-1]]
        for cells in (line.split("|") for line in capsys.readouterr().out.splitlines())
        if len(cells) > 2 and cells[1].strip() in bench_floor.KINDS
    }
    assert set(rows) == set(bench_floor.KINDS)
    assert all(float(cpu) > 0 and float(rps) > 0 for cpu, rps, _, _ in rows.values())
    assert rows["protocol"][3] == "1.00×"
