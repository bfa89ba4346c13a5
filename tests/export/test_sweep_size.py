"""The size sweep on tiny data: records, latency, the Pareto front by hand, and the report it feeds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from export.report import render_markdown
from export.size_report import claim_rows, default_size, pareto, summary
from export.sweep_size import sweep_task, write_sweep
from tests.export.conftest import MODELS_DIR

FIELDS = {"task", "cell", "hidden_size", "seed", "params", "metric", "value", "raw_p50_ms", "served_p50_ms"}


def _point(cell: str, size: int, ms: float, params: int, value: float) -> dict[str, object]:
    return {"cell": cell, "hidden_size": size, "raw_p50_ms": ms, "params": params, "value": value}


def test_served_front_default_size_and_speed_claims_by_hand() -> None:
    recs = []
    for seed in (0, 1):
        for cell, size, served, val, spe in (
            ("lstm", 32, 1.0, 0.80, 10.0),
            ("gru", 32, 0.9, 0.81, 7.0),  # GRU: 30 % less time per epoch, 10 % faster served
            ("lstm", 64, 1.2, 0.84, 20.0),
            ("gru", 64, 1.3, 0.835, 19.0),
        ):
            recs.append(
                {
                    "task": "keywords",
                    "cell": cell,
                    "hidden_size": size,
                    "seed": seed,
                    "params": size * 10,
                    "raw_p50_ms": served / 2,
                    "served_p50_ms": served,
                    "value": val,
                    "val_value": val + 0.001 * seed,
                    "seconds_per_epoch": spe,
                }
            )
    assert "at equal served latency, neither cell wins throughout (Pareto front: GRU-32, LSTM-64)" in summary(
        "keywords", recs
    )
    # best validation: 64 (0.8380); 32 (0.8055) is far outside its standard error → 64 ships
    assert default_size("keywords", recs)["hidden_size"] == 64
    rows = {r["claim"]: r for r in claim_rows({"records": recs})}
    train = rows["GRU trains ~30% faster (every task and size)"]
    assert train["measured"] == "keywords h32 30.0%, keywords h64 5.0%"
    assert train["verdict"] == "holds (within 10 points) at 1 of 2 points (keywords h32); GRU faster at 2 of 2"
    served = rows["GRU infers ~35% faster, served (every task and size)"]
    assert served["verdict"] == "holds (within 10 points) at 0 of 2 points; GRU faster at 1 of 2"


def test_pareto_front_keeps_only_undominated_points_cheapest_first() -> None:
    a, b = _point("lstm", 32, 0.10, 10, 0.70), _point("gru", 32, 0.08, 8, 0.72)  # b beats a on both
    c, d = _point("lstm", 64, 0.20, 20, 0.80), _point("gru", 64, 0.25, 15, 0.78)  # c: better, slower than b
    assert pareto([a, b, c, d], "raw_p50_ms", True) == [b, c]  # d is slower and worse than c
    assert pareto([a, b, c, d], "params", True) == [b, d, c]  # by parameters d is cheaper than c
    assert pareto([a, b, c, d], "raw_p50_ms", False) == [b, a]  # lower is better (MSE): a is lower but slower
    assert summary("sentiment", [{**p, "seed": 0} for p in (a, b, c, d)]).startswith(
        "sentiment (accuracy, higher is better): at equal raw latency, neither cell wins throughout "
        "(Pareto front: GRU-32, LSTM-64); at equal parameters, neither cell wins throughout"
    )


@pytest.mark.slow
def test_sweep_on_tiny_data_writes_records_figure_and_report(fixtures: dict[str, Path], tmp_path: Path) -> None:
    records = sweep_task("sentiment", (4, 8), (0,), epochs=1, data_path=fixtures["sst_dir"], runs=tmp_path, block=5)
    assert [(r["cell"], r["hidden_size"]) for r in records] == [("lstm", 4), ("gru", 4), ("lstm", 8), ("gru", 8)]
    assert all(
        FIELDS <= set(r) and r["raw_p50_ms"] > 0 and r["served_p50_ms"] > r["raw_p50_ms"] and 0 <= r["value"] <= 1
        for r in records
    )
    assert records[0]["params"] > records[1]["params"]  # an LSTM has 4 gates to the GRU's 3
    if not (MODELS_DIR / "results.json").is_file():
        pytest.skip("models/results.json not built yet (run `make models`)")
    shutil.copy(MODELS_DIR / "results.json", tmp_path / "results.json")
    res = write_sweep(tmp_path, records, ["sentiment"], "test")
    assert (tmp_path / "figures" / "size_sentiment.png").stat().st_size > 1000
    assert json.loads((tmp_path / "results.json").read_text())["sweeps"]["size"]["records"][-4:] == records
    assert (tmp_path / "RESULTS.md").read_text() == render_markdown(res)
    assert "## Accuracy vs latency by size" in render_markdown(res)
