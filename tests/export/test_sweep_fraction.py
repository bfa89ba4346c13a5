"""The training-fraction sweep on tiny data: nested subsets, the epoch rule, records, verdicts, report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from export.data import TaskData
from export.report import render_markdown
from export.sweep_fraction import claim_rows, epochs_for, gaps, run, subset
from tests.export.conftest import MODELS_DIR

FIELDS = {"task", "cell", "hidden_size", "seed", "fraction", "n_train", "metric", "value"}


def _data(n: int) -> TaskData:
    xs = np.arange(n, dtype=np.float32).reshape(n, 1, 1)
    return TaskData("keywords", None, (xs, np.arange(n)), (xs[:1], np.zeros(1)), (xs[:1], np.zeros(1)))  # type: ignore[arg-type]


def test_subsets_are_nested_per_seed_and_differ_between_seeds() -> None:
    data = _data(200)
    small, large = subset(data, 3, 0.05), subset(data, 3, 0.25)
    assert len(small.train[1]) == 10 and len(large.train[1]) == 50
    assert set(small.train[1]) <= set(large.train[1])
    assert np.array_equal(small.train[0][:, 0, 0], small.train[1])  # inputs and labels stay paired
    assert set(subset(data, 4, 0.05).train[1]) != set(small.train[1])
    assert sorted(subset(data, 3, 1.0).train[1]) == list(range(200))


def test_epochs_grow_as_the_data_shrinks_up_to_four_times() -> None:
    assert [epochs_for(3, f) for f in (0.05, 0.1, 0.25, 0.5, 1.0)] == [12, 12, 12, 6, 3]
    assert [epochs_for(10, f) for f in (0.25, 0.5)] == [40, 20]


def _rec(cell: str, seed: int, fraction: float, value: float) -> dict[str, object]:
    return {
        "task": "keywords",
        "cell": cell,
        "seed": seed,
        "fraction": fraction,
        "n_train": int(100 * fraction),
        "value": value,
        "hidden_size": 8,
    }


def test_verdicts_by_hand() -> None:
    # GRU ahead by 0.10 at 5 % and 10 % with tiny spread (> 2 SE); level at 100 %
    recs = [
        _rec(c, s, f, v + (0.10 if c == "gru" and f < 1 else 0) + 0.001 * s)
        for c in ("lstm", "gru")
        for s in range(3)
        for f, v in ((0.05, 0.5), (0.1, 0.6), (1.0, 0.9))
    ]
    rows = gaps(recs, "keywords")
    assert [g["fraction"] for g in rows] == [0.05, 0.1, 1.0]
    assert rows[0]["gru_minus_lstm"] == pytest.approx(0.10) and rows[0]["verdict"].startswith("holds")
    assert rows[2]["verdict"].startswith("not resolved")
    section = {"fractions": [0.05, 0.1, 1.0], "gaps": {"keywords": rows}, "hidden_size": 8, "seeds": [0, 1, 2]}
    assert claim_rows(section)[0]["verdict"].startswith("holds")
    flipped = [{**r, "cell": "gru" if r["cell"] == "lstm" else "lstm"} for r in recs]
    section["gaps"] = {"keywords": gaps(flipped, "keywords")}
    assert claim_rows(section)[0]["verdict"].startswith("does not hold")


@pytest.mark.slow
def test_quick_run_writes_records_figure_and_report(fixtures: dict[str, Path], tmp_path: Path) -> None:
    if not (MODELS_DIR / "results.json").is_file():
        pytest.skip("models/results.json not built yet (run `make models`)")
    shutil.copy(MODELS_DIR / "results.json", tmp_path / "results.json")
    data = {"sentiment": fixtures["sst_dir"], "keywords": fixtures["fsdd_dir"]}
    res = run(tmp_path, runs=tmp_path / "runs", quick=True, data=data)
    section = json.loads((tmp_path / "results.json").read_text())["sweeps"]["train_fraction"]
    assert len(section["records"]) == 2 * 2 * 2 * 2  # tasks × fractions × seeds × cells
    assert all(FIELDS <= set(r) for r in section["records"])
    assert (tmp_path / "figures" / "train_fraction.png").stat().st_size > 1000
    assert "## Accuracy by training-set size" in (tmp_path / "RESULTS.md").read_text()
    assert (tmp_path / "RESULTS.md").read_text() == render_markdown(res)
    assert any(c["claim"] == "GRU works well with smaller data sets" for c in res["claims"])
