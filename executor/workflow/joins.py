"""Load-time checks of how a step joins its needs and when a failed attempt is retried:
`trigger_rule` (a name, or the N-of-M mapping), `cancel_remaining` and `retry.when`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from executor.workflow import expressions
from executor.workflow.model import PARTIAL_RULES, TRIGGER_RULES

Add = Callable[[str, str], None]  # (path, message): the parser's way to report a problem
# What `retry.when` sees beyond the usual context: the failed attempt's `result` is one of
# the usual names; its `error` is not.
RETRY_NAMES = frozenset({"error"})


def check_trigger_rule(path: str, value: Any, needs: int, add: Add) -> Any:
    """A rule name, or ``{min_success: N}`` / ``{min_done: N}`` with N from 1 to ``needs``."""
    if isinstance(value, str):
        if value not in TRIGGER_RULES:
            add(path, f"{value!r} is not a trigger rule (one of: {', '.join(TRIGGER_RULES)})")
        return value
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in PARTIAL_RULES:
        add(
            path,
            f"must be a trigger rule name ({', '.join(TRIGGER_RULES)}) "
            "or a mapping with one of min_success, min_done (e.g. {min_success: 2})",
        )
        return value
    ((key, count),) = value.items()
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= max(needs, 1):
        add(f"{path}.{key}", f"must be a whole number from 1 to {needs} (the number of needs)")
    elif needs == 0:
        add(f"{path}.{key}", "applies to a step with needs; this step has none")
    return value


def check_cancel_remaining(path: str, value: Any, needs: int, add: Add) -> bool:
    if not isinstance(value, bool):
        add(path, "must be true or false")
        return False
    if value and needs == 0:
        add(path, "applies to a step with needs; this step has none")
    return bool(value)


def check_retry_when(path: str, value: Any, add: Add) -> Any:
    """``retry.when``: true, false or a template over ``result`` and ``error``."""
    if not isinstance(value, bool) and not expressions.is_template(value):
        add(path, 'must be true, false or a template (e.g. "{{ result.exit_code == 75 }}")')
        return value
    problems = expressions.compile_problems(value)
    for relative, message in problems:
        add(path + relative, message)
    for _, source in [] if problems else expressions.iter_templates(value):
        for name in sorted(expressions.unknown_names(source) - RETRY_NAMES):
            known = ", ".join([*expressions.CONTEXT_NAMES, *RETRY_NAMES])
            add(path, f"unknown variable {name!r} (one of: {known})")
    return value


def without_retry_when(defaults: dict[str, Any]) -> dict[str, Any]:
    """``defaults`` without ``retry.when``, for the checks that do not know `error`."""
    retry = defaults.get("retry")
    if not isinstance(retry, dict) or "when" not in retry:
        return defaults
    return {**defaults, "retry": {key: value for key, value in retry.items() if key != "when"}}
