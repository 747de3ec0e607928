"""How deep JSON and YAML values may nest, measured one way for everyone: the workflow
parser, the API's body reader, the dashboard's forms and the remote CLI (which checks its
input before sending it)."""

from __future__ import annotations

from typing import Any

# Lists and mappings nested deeper than this are refused: everything downstream (validation,
# storage, templates) walks values recursively. PyYAML composes recursively too, so a document
# nested some hundreds deep raises RecursionError there, which is refused the same way.
MAX_DEPTH = 64


def deeper_than(value: Any, limit: int) -> bool:
    """Whether lists and dicts in ``value`` nest more than ``limit`` levels; iterative, so
    that a value too deep for recursion is measured all the same."""
    pending = [(value, 0)]
    while pending:
        current, depth = pending.pop()
        if isinstance(current, dict | list):
            if depth >= limit:
                return True
            children = current.values() if isinstance(current, dict) else current
            pending.extend((child, depth + 1) for child in children)
    return False
