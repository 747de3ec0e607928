"""README's table of settings is generated from the declaration in `executor.settings`."""

from __future__ import annotations

from pathlib import Path

from executor.settings import settings_table_markdown

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_settings_table() -> str:
    """The first table under README's "## Settings" heading."""
    section = README.read_text(encoding="utf-8").split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    table: list[str] = []
    for line in section.splitlines():
        if line.startswith("|"):
            table.append(line)
        elif table:
            break
    return "\n".join(table) + "\n"


def test_readme_settings_table_matches_the_declaration() -> None:
    assert readme_settings_table() == settings_table_markdown(), (
        "README.md's table of settings differs from executor/settings.py: replace it with the "
        "output of `.venv/bin/python -m executor.settings`"
    )
