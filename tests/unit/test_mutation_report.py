"""tests/mutation_report.py on hand-made mutmut result files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.mutation_report import collect, main, markdown, status_of


def _project(tmp_path: Path, exit_codes: dict[str, dict[str, int | None]]) -> tuple[Path, Path]:
    pyproject = tmp_path / "pyproject.toml"
    modules = list(exit_codes)
    pyproject.write_text("[tool.mutmut]\nonly_mutate = [" + ", ".join(f'"{m}"' for m in modules) + "]\n")
    mutants = tmp_path / "mutants"
    for module, codes in exit_codes.items():
        if codes:
            meta = mutants / f"{module}.meta"
            meta.parent.mkdir(parents=True, exist_ok=True)
            meta.write_text(json.dumps({"exit_code_by_key": codes}))
    return pyproject, mutants


def test_status_of_mutmut_exit_codes() -> None:
    assert [status_of(c) for c in (1, 3, 0, 5, 33, 34, 36, 24, -24, 152, 255, 37, None, -11, 2)] == [
        "killed",
        "killed",
        "survived",
        "no tests",
        "no tests",
        "skipped",
        "timeout",
        "timeout",
        "timeout",
        "timeout",
        "timeout",
        "killed",
        "not checked",
        "other",
        "other",
    ]


def test_scores_per_module(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    codes: dict[str, dict[str, int | None]] = {
        "pkg/a.py": {
            "pkg.a.x_f__mutmut_1": 1,
            "pkg.a.x_f__mutmut_2": 0,
            "pkg.a.x_f__mutmut_10": 36,
            "pkg.a.x_f__mutmut_3": 33,
            "pkg.a.x_f__mutmut_4": None,
        },
        "pkg/b.py": {},
    }
    pyproject, mutants = _project(tmp_path, codes)
    scores = collect(mutants, ["pkg/a.py", "pkg/b.py"])
    a, b = scores
    # checked = 5 − 1 not checked; detected = killed 1 + timeout 1
    assert (a.total, a.checked, a.score) == (5, 4, 0.5)
    assert a.survivors == ["pkg.a.x_f__mutmut_2", "pkg.a.x_f__mutmut_3"]  # survived and untested, natural order
    assert (b.total, b.score) == (0, None)
    table = markdown(scores, threshold=0.8)
    assert "| `pkg/a.py` | 5 | 1 | 1 | 1 | 1 | 0 | 1 | 50.0 % ⚠ |" in table
    assert "| `pkg/b.py` | 0 | 0 | 0 | 0 | 0 | 0 | 0 | – |" in table
    assert table.rstrip().endswith("| **total** | 5 | 1 | 1 | 1 | 1 | 0 | 1 | 50.0 % |")

    out = tmp_path / "report.md"
    assert main(["--mutants", str(mutants), "--pyproject", str(pyproject), "--out", str(out), "--survivors"]) == 0
    printed = capsys.readouterr().out
    assert out.read_text() == printed
    assert "* `pkg.a.x_f__mutmut_2`" in printed
    assert main(["--mutants", str(mutants), "--pyproject", str(pyproject), "--fail-under", "0.8"]) == 1
    assert main(["--mutants", str(mutants), "--pyproject", str(pyproject), "--fail-under", "0.5"]) == 0


def test_no_results_yet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pyproject, mutants = _project(tmp_path, {"pkg/a.py": {}})
    assert main(["--mutants", str(mutants), "--pyproject", str(pyproject)]) == 2
    assert "run `make mutation` first" in capsys.readouterr().err
