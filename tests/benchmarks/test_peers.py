"""Unit tests of ``benchmarks/peers`` that need neither the peers' venvs nor wrk: the session
options the peers share are rnn-serve's, the settings files say what the docs say, V2 tensors
survive a round trip, the process-tree CPU sees children, and the report's arithmetic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from benchmarks.peers import __main__ as cli
from benchmarks.peers import measure, peer_onnx, report, venvs
from benchmarks.peers.servers import BASELINE, HERE, LABELS, alive, stop_pids, tree_cpu_s, tree_pids
from service.runtime.sessions import SessionConfig, session_options
from service.settings import Settings


def _public_attributes(opts: ort.SessionOptions) -> dict[str, object]:
    names = [n for n in dir(opts) if not n.startswith("_")]
    return {n: getattr(opts, n) for n in names if not callable(getattr(opts, n))}


def test_peer_session_options_are_the_services() -> None:
    """Every readable option of the peers' sessions equals what ``rnn-serve serve`` opens with its
    default settings: if either side changes, the peers would measure another configuration, so
    this fails until both agree again."""
    ours = _public_attributes(session_options(SessionConfig.from_settings(Settings())))
    peers = _public_attributes(peer_onnx.session_options())
    assert len(ours) >= 7
    assert peers == ours


def test_mlserver_settings_files() -> None:
    server = json.loads((HERE / "mlserver" / "settings.json").read_text())
    assert server == {"debug": False, "parallel_workers": 0, "host": "127.0.0.1", "gzip_enabled": False}
    plain = json.loads((HERE / "mlserver" / "model-settings.json").read_text())
    batching = json.loads((HERE / "mlserver" / "model-settings-batching.json").read_text())
    assert plain["implementation"] == batching["implementation"] == "benchmarks.peers.mlserver_onnx.OnnxModel"
    assert "max_batch_size" not in plain
    assert (batching["max_batch_size"], batching["max_batch_time"]) == (16, 0.001)


def test_venv_requirements_pin_our_onnxruntime(tmp_path: Path) -> None:
    assert venvs.onnxruntime_pin() == f"onnxruntime=={ort.__version__}"
    assert venvs.requirements("mlserver") == ["mlserver==1.7.1", "uvloop==0.21.0", f"onnxruntime=={ort.__version__}"]
    assert venvs.requirements("litserve")[0] == "litserve==0.2.19"
    assert not any(r.startswith("torch") for p in venvs.PEERS for r in venvs.requirements(p))
    assert venvs.missing(tmp_path) == list(venvs.PEERS)  # an empty folder holds no venv


def test_v2_tensors_round_trip() -> None:
    arrays = {"forecast": np.arange(12, dtype=np.float32).reshape(2, 6) / 7, "ids": np.arange(3, dtype=np.int64)}
    doc = json.loads(json.dumps(peer_onnx.encode_v2("m", arrays)))
    assert doc["model_name"] == "m"
    assert [t["datatype"] for t in doc["outputs"]] == ["FP32", "INT64"]
    back = measure.response_outputs(doc)
    for name, array in arrays.items():
        assert back[name].dtype == array.dtype and np.array_equal(back[name], array)
    request = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2, 2], "data": [1, 2, 3, 4]}]}
    assert peer_onnx.decode_v2(request)["x"].shape == (1, 2, 2)


def test_process_tree_cpu_counts_children() -> None:
    """A busy child's CPU is in its parent's tree (LitServe's inference worker is a child)."""
    me = os.getpid()
    child = subprocess.Popen([sys.executable, "-c", "while True: sum(range(1000))"])
    try:
        assert child.pid in tree_pids(me)
        before = tree_cpu_s(me)
        time.sleep(0.5)
        assert tree_cpu_s(me) > before
    finally:
        child.kill()
        child.wait()


def _rounds(c1: list[float], c32: list[float], cpu: float = 1.0) -> report.Rounds:
    return [{"c1_p50_ms": a, "c8_rps": 100.0, "c32_rps": b, "c1_cpu_ms": cpu} for a, b in zip(c1, c32, strict=True)]


def test_summarise_medians_and_ratios() -> None:
    results: report.Results = {
        "m": {
            "rnn-serve-on": _rounds([1.0, 1.2, 5.0], [900.0, 1000.0, 1100.0], cpu=0.8),
            BASELINE: _rounds([2.0, 2.5, 3.0], [400.0, 500.0, 450.0]),
        }
    }
    summary = report.summarise(results, {"m": [0.6, 0.5, 0.4]})
    ours, base = summary["m"]["rnn-serve-on"], summary["m"][BASELINE]
    assert ours["raw_ms"] == 0.5 and ours["c1_p50_ms"] == 1.2 and ours["c32_rps"] == 1000.0
    assert ours["c1_over_raw_ms"] == pytest.approx(0.7) and base["c1_over_raw_ms"] == pytest.approx(2.0)
    assert ours["c1_ratio"] == pytest.approx(0.35) and ours["c32_ratio"] == pytest.approx(1000 / 450)
    assert ours["outside_ms"] == pytest.approx(0.3) and base["c32_ratio"] == 1.0
    text = report.report(summary, {"m": 50.0}, "header")
    rows = [line for line in text.splitlines() if line.startswith("| ") and "framework" not in line]
    assert [r.split(" | ")[0].lstrip("| ") for r in rows] == [LABELS["rnn-serve-on"], LABELS[BASELINE]]
    assert "open loop 50 req/s" in text
    assert "m: 2.22× the c=32 throughput, 0.35× the c=1 p50 − raw (0.48× the c=1 p50)" in report.headline(summary)


def test_medians_skip_rounds_without_the_key() -> None:
    assert report.medians([{"a": 1.0, "b": 5.0}, {"a": 3.0}]) == {"a": 2.0, "b": 5.0}


def test_cli_defaults_and_quick() -> None:
    args = cli.parse_args([])
    assert args.models == ["forecast-gru", "keywords-gru"] and args.rounds == 3
    assert args.frameworks == list(LABELS)
    quick = cli.parse_args(["--quick", "--models", "forecast-gru"])
    assert (quick.rounds, quick.seconds, quick.models) == (1, 1.0, ["forecast-gru"])


def test_errors_lists_every_failed_block() -> None:
    clean: report.Results = {"m": {"litserve": [{"c1_errors": 0.0, "ol_errors": 0.0}]}}
    assert report.errors(clean) == "Failed requests: none."
    bad: report.Results = {"m": {"litserve": [{"c1_errors": 0.0}, {"c32_errors": 3.0, "ol_errors": 1.0}]}}
    assert report.errors(bad) == "Failed requests: m litserve round 1 c32: 3; m litserve round 1 ol: 1."


def test_stop_pids_ends_a_whole_tree() -> None:
    """The launcher stops a server's descendants too (LitServe's would outlive their parent)."""
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, time\nsubprocess.Popen(['sleep', '60'])\ntime.sleep(60)"]
    )
    try:
        deadline = time.monotonic() + 10
        while len(family := tree_pids(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(family) == 2
        stop_pids(family, timeout=5)
        assert parent.wait(timeout=5) is not None
        assert not any(Path(f"/proc/{p}/cmdline").exists() and alive(p) for p in family)
    finally:
        parent.kill()
        parent.wait()
