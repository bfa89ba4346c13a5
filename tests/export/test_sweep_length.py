"""The sequence-length analysis: bucket labels, the paired bootstrap by hand, and a run on tiny data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from export.sweep_length import bucket_labels, claim_rows, paired_diff, run
from export.sweep_size import sweep_task
from tests.export.conftest import MODELS_DIR

FIELDS = {"task", "cell", "hidden_size", "seed", "bucket", "n", "accuracy"}


def test_bucket_labels() -> None:
    assert bucket_labels((10, 20, 30), "tokens") == ["≤ 10 tokens", "11–20 tokens", "21–30 tokens", "> 30 tokens"]
    assert bucket_labels((0.4, 0.5), "s") == ["≤ 0.40 s", "0.40–0.50 s", "> 0.50 s"]


def test_paired_bootstrap_by_hand() -> None:
    # 2 runs × 8 examples; short = first 4, long = last 4. GRU right on every short example,
    # LSTM right on every long one: GRU − LSTM is +1 on short, −1 on long, interaction +2, no spread.
    short = np.arange(8) < 4
    lstm = np.tile(~short, (2, 1))
    gru = np.tile(short, (2, 1))
    per, inter = paired_diff(lstm, gru, [short, ~short], np.random.default_rng(0), n_boot=200)
    assert [c["diff"] for c in per] == [1.0, -1.0]
    assert inter == {"diff": 2.0, "lo": 2.0, "hi": 2.0}
    # identical cells: every difference is exactly zero
    per, inter = paired_diff(lstm, lstm, [short, ~short], np.random.default_rng(0), n_boot=50)
    assert all(c == {"diff": 0.0, "lo": 0.0, "hi": 0.0} for c in [*per, inter])


def _section(lo: float, hi: float) -> dict[str, object]:
    return {"tasks": {"sentiment": {"pooled": {"interaction": {"diff": (lo + hi) / 2, "lo": lo, "hi": hi}}}}}


def test_verdict_follows_the_interval() -> None:
    assert claim_rows(_section(0.01, 0.05))[0]["verdict"].startswith("holds")
    assert claim_rows(_section(-0.05, -0.01))[0]["verdict"].startswith("does not hold")
    assert claim_rows(_section(-0.01, 0.02))[0]["verdict"].startswith("not resolved")


@pytest.mark.slow
def test_run_on_a_tiny_size_sweep(fixtures: dict[str, Path], tmp_path: Path) -> None:
    if not (MODELS_DIR / "results.json").is_file():
        pytest.skip("models/results.json not built yet (run `make models`)")
    shutil.copy(MODELS_DIR / "results.json", tmp_path / "results.json")
    runs = tmp_path / "runs"
    sweep_task("sentiment", (4,), (0, 1), epochs=1, data_path=fixtures["sst_dir"], runs=runs / "sweep", block=2)
    res = run(tmp_path, runs=runs, data={"sentiment": fixtures["sst_dir"]})
    section = json.loads((tmp_path / "results.json").read_text())["sweeps"]["length"]
    assert list(section["tasks"]) == ["sentiment"]
    recs = section["records"]
    assert all(FIELDS <= set(r) for r in recs) and len(recs) == 2 * 2 * 4  # cells × seeds × buckets
    by_model = {(r["cell"], r["seed"]): r for r in recs}
    assert len(by_model) == 4
    assert sum(r["n"] for r in recs if (r["cell"], r["seed"]) == ("lstm", 0)) == section["tasks"]["sentiment"]["n"][
        0
    ] + sum(section["tasks"]["sentiment"]["n"][1:])
    assert (tmp_path / "figures" / "length_sentiment.png").stat().st_size > 1000
    assert any(c["claim"] == "GRU for short sequences, LSTM for long ones" for c in res["claims"])
