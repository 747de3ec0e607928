"""Actions: what a step does. One module per action, one registry."""

from __future__ import annotations

from typing import Any

from executor.actions.base import Action, Param, is_template
from executor.actions.specs import SPECS

__all__ = ["Action", "Param", "check_action", "is_template", "names"]


def names() -> list[str]:
    return sorted(SPECS)


def check_action(action: str, with_: Any) -> list[tuple[str, str]] | None:
    """Problems with ``with_`` for ``action`` as ``(key, message)``; None for an unknown action."""
    spec = SPECS.get(action)
    return None if spec is None else spec.check(with_)
