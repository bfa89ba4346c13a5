"""``python -m benchmarks.peers --quick`` end to end on forecast-gru (≈1 min): every framework
starts from its venv, answers as raw onnxruntime does, and gets a full row. Checks the report's
shape and that every figure is positive, never a speed. Skips, saying what to run, without wrk or
the peers' venvs (``python -m benchmarks.peers.venvs``; CI does not build them)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmarks.peers import __main__ as peers
from benchmarks.peers import venvs
from benchmarks.peers.servers import LABELS

pytestmark = [
    pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not on PATH (Debian: apt-get install wrk)"),
    pytest.mark.skipif(
        bool(venvs.missing()),
        reason=f"no up-to-date peer venvs ({', '.join(venvs.missing())}) under .peers/: "
        "run `python -m benchmarks.peers.venvs` first",
    ),
]


@pytest.mark.timeout(240)
def test_peers_quick_forecast(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert peers.main(["--quick", "--models", "forecast-gru", "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "PEERS.md").read_text().strip() == out.strip()
    rows = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| framework")]
    assert [r.split(" | ")[0].lstrip("| ") for r in rows] == list(LABELS.values())
    summary = json.loads((tmp_path / "peers.json").read_text())["summary"]["forecast-gru"]
    assert set(summary) == set(LABELS)
    for row in summary.values():
        for key in ("c1_p50_ms", "c8_rps", "c32_rps", "c1_cpu_ms", "raw_ms", "ol_p50_ms", "ol_p99_ms", "c32_ratio"):
            assert row[key] > 0, (key, row)
    assert summary["mlserver-batching"]["c32_ratio"] == 1.0
    assert "vs MLServer, same + adaptive batching" in out
