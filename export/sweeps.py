"""The experiments beyond the six packages, as sections of ``models/results.json`` ``sweeps``.

Why a registry: each experiment (size, look-back, deployment map, int8, sequence length, training
fraction) is its own module with its own command and run time, yet ``RESULTS.md`` and the claims
table are one document generated from one json. Each module owns its section's records, its
markdown (``render(section) -> list[str]``) and optionally its verdict rows
(``claim_rows(section) -> list[dict]``); this module only merges, orders and re-renders, so adding
an experiment never touches another's code.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

#: section name → module that renders it, in report order
SECTIONS: dict[str, str] = {
    "size": "export.size_report",
    "deployment": "export.deployment",
    "int8": "export.quantize",
    "lookback": "export.lookback_report",
    "length": "export.sweep_length",
    "train_fraction": "export.sweep_fraction",
}


#: section name → module whose ``run(models_dir, runs, quick, data)`` re-creates it, in run order
#: (the sequence-length analysis reads the size sweep's cache; the deployment map times int8 packages)
RUNNERS: dict[str, str] = {
    "size": "export.sweep_size",
    "int8": "export.quantize",
    "deployment": "export.deployment",
    "lookback": "export.sweep_lookback",
    "length": "export.sweep_length",
    "train_fraction": "export.sweep_fraction",
}


def _module(name: str) -> Any:
    return importlib.import_module(SECTIONS[name])


def cached_point(path: Path, epochs: int) -> dict[str, Any] | None:
    """A sweep point's saved record, if one exists for the same epochs (else it is trained again)."""
    if not path.is_file():
        return None
    record: dict[str, Any] = json.loads(path.read_text())
    return record if record["epochs"] == epochs else None


def sweep_markdown(res: dict[str, Any]) -> list[str]:
    """The markdown of every section present, in :data:`SECTIONS` order."""
    lines: list[str] = []
    for name in SECTIONS:
        section = res.get("sweeps", {}).get(name)
        if section:
            lines += [*_module(name).render(section), ""]
    return lines


def sweep_claims(res: dict[str, Any]) -> list[dict[str, str]]:
    """The verdict rows the sections contribute to the claims table."""
    rows: list[dict[str, str]] = []
    for name in SECTIONS:
        section = res.get("sweeps", {}).get(name)
        rows_of = getattr(_module(name), "claim_rows", None) if section else None
        if rows_of is not None:
            rows += rows_of(section)
    return rows


def save_section(models_dir: Path, name: str, section: dict[str, Any]) -> dict[str, Any]:
    """Put ``section`` at ``sweeps.<name>`` of ``results.json``, then re-derive claims and RESULTS.md."""
    if name not in SECTIONS:
        raise ValueError(f"unknown results section {name!r}; known: {sorted(SECTIONS)}")
    from export.report import render_markdown
    from export.results import claims

    path = models_dir / "results.json"
    res: dict[str, Any] = json.loads(path.read_text())
    res.setdefault("sweeps", {})[name] = section
    res["sweeps"] = {k: res["sweeps"][k] for k in SECTIONS if k in res["sweeps"]}
    res["claims"] = claims(res)
    path.write_text(json.dumps(res, indent=2) + "\n")
    (models_dir / "RESULTS.md").write_text(render_markdown(res))
    return res


def run_section(
    name: str, models_dir: Path, runs: Path, quick: bool = False, data: dict[str, Path] | None = None
) -> dict[str, Any]:
    """Re-create one section (training, timing, figures) through its module's ``run``."""
    module = importlib.import_module(RUNNERS[name])
    return dict(module.run(models_dir, runs=runs, quick=quick, data=data))
