"""Turn mutmut's results (``mutants/**/*.py.meta``) into a per-module markdown table.

``make mutation`` runs it after ``mutmut run``; by hand::

    .venv/bin/python tests/mutation_report.py                 # table on stdout
    .venv/bin/python tests/mutation_report.py --survivors     # and the surviving mutants' names
    .venv/bin/python tests/mutation_report.py --out out/mutation/report.md

The modules are ``[tool.mutmut] only_mutate`` in ``pyproject.toml``. Score = (killed + timeout) /
(mutants − not checked − skipped): a mutant that makes the tests hang has been detected, and
"no tests" counts against the score (nothing would notice that mutation). A module under
``--threshold`` (default 0.8) is marked ⚠; exit status 0, or 1 when ``--fail-under`` is given and a
module scores below it, or 2 when there are no results at all.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: mutmut 3's exit code → status (``mutmut.stats.status_by_exit_code``), folded into our columns
STATUS_BY_EXIT_CODE: dict[int | None, str] = {
    1: "killed",
    3: "killed",  # pytest internal error: the mutant broke the run
    0: "survived",
    5: "no tests",
    33: "no tests",
    34: "skipped",
    36: "timeout",
    24: "timeout",  # SIGXCPU: over the CPU-time limit
    -24: "timeout",
    152: "timeout",
    255: "timeout",
    37: "killed",  # caught by the type checker (only with type_check_command)
    None: "not checked",
}
COLUMNS = ("killed", "survived", "timeout", "no tests", "other", "not checked", "skipped")


@dataclass
class ModuleScore:
    path: str
    counts: Counter[str] = field(default_factory=Counter)
    survivors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def checked(self) -> int:
        return self.total - self.counts["not checked"] - self.counts["skipped"]

    @property
    def score(self) -> float | None:
        """Detected share of the checked mutants (None: none checked)."""
        if self.checked == 0:
            return None
        return (self.counts["killed"] + self.counts["timeout"]) / self.checked


def status_of(exit_code: int | None) -> str:
    """Our column for a mutmut exit code ("other": suspicious exit codes, segfaults, interrupted)."""
    return STATUS_BY_EXIT_CODE.get(exit_code, "other")


def modules_of(pyproject: Path) -> list[str]:
    """The mutated files, as ``[tool.mutmut] only_mutate`` lists them."""
    config = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    return list(config["tool"]["mutmut"]["only_mutate"])


def collect(mutants_dir: Path, modules: list[str]) -> list[ModuleScore]:
    """One :class:`ModuleScore` per module; a module without a ``.meta`` file has no mutants yet."""
    scores = []
    for module in modules:
        score = ModuleScore(module)
        meta = mutants_dir / f"{module}.meta"
        if meta.is_file():
            exit_codes: dict[str, int | None] = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
            for name, code in sorted(exit_codes.items(), key=lambda kv: _natural(kv[0])):
                status = status_of(code)
                score.counts[status] += 1
                if status in ("survived", "no tests"):
                    score.survivors.append(name)
        scores.append(score)
    return scores


def _natural(name: str) -> tuple[str, int]:
    """``f__mutmut_10`` after ``f__mutmut_9``."""
    stem, _, number = name.rpartition("_")
    return (stem, int(number)) if number.isdigit() else (name, 0)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def markdown(scores: list[ModuleScore], threshold: float | None = None) -> str:
    """The table: one row per module and a total row."""
    lines = [
        "| module | mutants | killed | survived | timeout | no tests | other | not checked | score |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    total = ModuleScore("**total**")
    for s in scores:
        total.counts.update(s.counts)
        flag = " ⚠" if threshold is not None and s.score is not None and s.score < threshold else ""
        cells = [str(s.counts[c]) for c in COLUMNS[:-1]]
        lines.append(f"| `{s.path}` | {s.total} | {' | '.join(cells)} | {_percent(s.score)}{flag} |")
    cells = [str(total.counts[c]) for c in COLUMNS[:-1]]
    lines.append(f"| {total.path} | {total.total} | {' | '.join(cells)} | {_percent(total.score)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mutants", type=Path, default=ROOT / "mutants", help="mutmut's folder (default: mutants/)")
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    parser.add_argument("--out", type=Path, help="also write the report to this file")
    parser.add_argument("--survivors", action="store_true", help="list surviving and untested mutants")
    parser.add_argument("--threshold", type=float, default=0.8, help="mark modules below this score (default 0.8)")
    parser.add_argument("--fail-under", type=float, help="exit 1 when a module scores below this (0–1)")
    args = parser.parse_args(argv)

    scores = collect(args.mutants, modules_of(args.pyproject))
    if not any(s.total for s in scores):
        print(f"no mutmut results under {args.mutants}: run `make mutation` first", file=sys.stderr)
        return 2
    today = dt.datetime.now(dt.UTC).date().isoformat()
    report = f"Mutation scores ({today}, mutmut results in `{args.mutants.name}/`)\n\n" + markdown(
        scores, args.threshold
    )
    if args.survivors:
        for s in scores:
            if s.survivors:
                report += f"\n`{s.path}` survivors ({len(s.survivors)}):\n\n"
                report += "".join(f"* `{name}`\n" for name in s.survivors)
    print(report, end="")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report, encoding="utf-8")
    if args.fail_under is not None:
        return int(any(s.score is not None and s.score < args.fail_under for s in scores))
    return 0


if __name__ == "__main__":
    sys.exit(main())
