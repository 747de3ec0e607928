"""A step's ``with`` checked against its action's declared parameters, at load time.

Parameters are checked when a workflow is loaded, never halfway through a run. A value
that holds a template (``{{ ... }}``) can only be checked once rendered, so here any
template is accepted where a literal of the right type is expected.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from executor.actions import SPECS, Action
from executor.durations import MAX_SECONDS, parse_duration
from executor.workflow.expressions import is_template


def _is_duration(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return 0 <= value <= MAX_SECONDS
    if isinstance(value, str):
        try:
            parse_duration(value)
        except ValueError:
            return False
        return True
    return False


# Each kind a `Param` may accept: how to recognise a literal of it, and how to name it.
_KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "string": (lambda v: isinstance(v, str), "a string"),
    "integer": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "number": (lambda v: isinstance(v, int | float) and not isinstance(v, bool), "a number"),
    "boolean": (lambda v: isinstance(v, bool), "true or false"),
    "object": (lambda v: isinstance(v, dict), "a mapping"),
    "list": (lambda v: isinstance(v, list), "a list"),
    "string_list": (
        lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v),
        "a list of strings",
    ),
    "string_map": (
        lambda v: isinstance(v, dict) and all(isinstance(i, str | int | float | bool) for i in v.values()),
        "a mapping of names to strings",
    ),
    "duration": (_is_duration, "a duration (e.g. 500ms, 30s, 5m, 2h; at most 100 years)"),
    "any": (lambda v: True, "anything"),
}


def action_names() -> list[str]:
    return sorted(SPECS)


def check_action(action: str, with_: Any) -> list[tuple[str, str]] | None:
    """Problems with ``with_`` for ``action`` as ``(key, message)``; None for an unknown action."""
    spec = SPECS.get(action)
    return None if spec is None else check_params(spec, with_)


def check_params(spec: type[Action], with_: Any) -> list[tuple[str, str]]:
    """Problems with ``with_`` as ``(key, message)``; an empty list when it is fine."""
    if with_ is None:
        with_ = {}
    if not isinstance(with_, dict):
        return [("", f"must be a mapping of {spec.name} parameters")]
    problems: list[tuple[str, str]] = []
    known = {p.name: p for p in spec.params}
    for key in with_:
        if key not in known:
            problems.append((key, f"unknown parameter for {spec.name} (expected one of: {', '.join(known)})"))
    templated = frozenset(key for key, value in with_.items() if is_template(value))
    for param in spec.params:
        if param.name not in with_:
            if param.required:
                problems.append((param.name, "is required"))
            continue
        value = with_[param.name]
        if param.name in templated:
            continue
        if not any(_KINDS[kind][0](value) for kind in param.kinds):
            problems.append((param.name, f"must be {' or '.join(_KINDS[k][1] for k in param.kinds)}"))
    problems += spec.check_more(with_, templated)
    return problems
