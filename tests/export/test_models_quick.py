"""``rnn-serve models --quick`` end to end on tiny data: packages, every sweep, one report.

The same command that re-creates ``models/`` (one hour on 2 cores), at toy sizes, into a temporary
folder: what it writes must be complete and self-consistent (RESULTS.md is the render of the json).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from export.cli import models_main
from export.report import render_markdown
from export.sweeps import RUNNERS
from service.package import read_package

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick(fixtures: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root laid out like ../shared/data from the fixtures, and one quick run over it."""
    tmp = tmp_path_factory.mktemp("models-quick")
    root = tmp / "data"
    for link, target in (
        (root / "sentiment", fixtures["sst_dir"]),
        (root / "keyword_spotting" / "fsdd" / "recordings", fixtures["fsdd_dir"]),
        (root / "timeseries" / "ett" / "ETTh1.csv", fixtures["ett_csv"]),
    ):
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)
    out = tmp / "models"
    argv = ["--quick", "--out", str(out), "--runs", str(tmp / "runs"), "--data-root", str(root)]
    assert models_main(argv) == 0
    return out


def test_six_packages_and_a_complete_report(quick: Path) -> None:
    for task in ("sentiment", "keywords", "forecast"):
        for cell in ("lstm", "gru"):
            package = read_package(quick / f"{task}-{cell}")
            assert package.training["hidden_size"] == 8 and package.training["seeds"] == [0, 1]
    res = json.loads((quick / "results.json").read_text())
    assert res["command"] == "rnn-serve models --quick"
    assert set(res["sweeps"]) == set(RUNNERS)
    assert (quick / "RESULTS.md").read_text() == render_markdown(res)
    claims = {c["claim"] for c in res["claims"]}
    assert {"GRU works well with smaller data sets", "GRU for short sequences, LSTM for long ones"} <= claims


def test_every_figure_the_report_links_exists(quick: Path) -> None:
    text = (quick / "RESULTS.md").read_text()
    linked = {part.split(")")[0] for part in text.split("](")[1:] if part.split(")")[0].endswith(".png")}
    assert len(linked) >= 5
    assert all((quick / name).stat().st_size > 1000 for name in linked)


def test_size_records_cover_every_task_cell_size_and_seed(quick: Path) -> None:
    records = json.loads((quick / "results.json").read_text())["sweeps"]["size"]["records"]
    keys = {(r["task"], r["cell"], r["hidden_size"], r["seed"]) for r in records}
    assert len(keys) == len(records) == 3 * 2 * 2 * 2
    assert all(r["served_p50_ms"] > r["raw_p50_ms"] > 0 for r in records)
