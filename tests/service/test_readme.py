"""The README's settings table is generated from the Settings class; keep the two in step."""

from __future__ import annotations

from pathlib import Path

from service.settings import markdown_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_settings_table_matches_settings_class() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [row for row in markdown_table().splitlines() if row not in text]
    assert not missing, "README settings table is stale; regenerate with service.settings.markdown_table():\n" + "\n".join(missing)


def test_readme_names_both_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert "make run" in text and "make test" in text
