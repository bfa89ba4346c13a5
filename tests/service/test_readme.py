"""The README is a front door (≤ 400 lines, the two commands); the chapters live in docs/.

The settings table in docs/serving.md is generated from the Settings class; keep the two in step.
"""

from __future__ import annotations

from pathlib import Path

from service.settings import markdown_table

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SERVING = ROOT / "docs" / "serving.md"
MAX_README_LINES = 400


def test_settings_table_matches_settings_class() -> None:
    text = SERVING.read_text(encoding="utf-8")
    missing = [row for row in markdown_table().splitlines() if row not in text]
    assert not missing, (
        "docs/serving.md settings table is stale; regenerate with service.settings.markdown_table():\n"
        + "\n".join(missing)
    )


def test_readme_names_both_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert "make run" in text and "make test" in text


def test_readme_is_a_front_door() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, (
        f"README.md has {len(lines)} lines; move text into docs/ (≤ {MAX_README_LINES})"
    )


def test_readme_links_every_chapter() -> None:
    text = README.read_text(encoding="utf-8")
    unlinked = [p.name for p in sorted((ROOT / "docs").glob("*.md")) if f"(docs/{p.name}" not in text]
    assert not unlinked, f"README.md does not link these chapters: {unlinked}"
