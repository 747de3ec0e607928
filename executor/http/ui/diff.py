"""A unified diff of two workflow sources, line by line, each line with its kind for styling."""

from __future__ import annotations

import difflib

CONTEXT = 3


def unified(before: str, after: str, before_label: str, after_label: str) -> list[tuple[str, str]]:
    """``(kind, line)`` pairs of the unified diff: kind is ``file`` (the two headers),
    ``hunk`` (``@@ ... @@``), ``add``, ``del`` or ``ctx``. Empty when the sources are equal."""
    lines = difflib.unified_diff(
        before.splitlines(), after.splitlines(), before_label, after_label, lineterm="", n=CONTEXT
    )
    marked: list[tuple[str, str]] = []
    for number, line in enumerate(lines):
        # The headers are the first two lines; later, "---" is a removed line starting "--".
        if number < 2:
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        marked.append((kind, line))
    return marked
