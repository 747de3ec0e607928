"""What an action is: the parameters it accepts, and how it runs one attempt.

Parameters are checked when a workflow is loaded (`check`), never halfway through a run.
A value that holds a template (``{{ ... }}``) can only be checked once rendered, so the
load-time check accepts any template where a literal of the right type is expected.
"""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass
from typing import Any, ClassVar

from executor.durations import parse_duration


def json_or_none(text: str) -> Any:
    """``text`` parsed as JSON when it is JSON (a command's stdout, a response body), else None."""
    try:
        return json.loads(text) if text.strip() else None
    except ValueError:
        return None


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


@dataclass(frozen=True)
class Param:
    name: str
    # Literal types accepted; "duration" means a duration string or a number of seconds.
    kinds: tuple[str, ...]
    required: bool = False
    doc: str = ""


_KIND_CHECKS = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "list": lambda v: isinstance(v, list),
    "string_list": lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v),
    "string_map": lambda v: (
        isinstance(v, dict) and all(isinstance(i, str | int | float | bool) for i in v.values())
    ),
    "duration": lambda v: _is_duration(v),
    "any": lambda v: True,
}


_KIND_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "list": "a list",
    "string_list": "a list of strings",
    "string_map": "a mapping of names to strings",
    "duration": "a duration (e.g. 500ms, 30s, 5m, 2h)",
    "any": "anything",
}


def _is_duration(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value >= 0
    if isinstance(value, str):
        try:
            parse_duration(value)
        except ValueError:
            return False
        return True
    return False


class Action(abc.ABC):
    name: ClassVar[str]
    params: ClassVar[tuple[Param, ...]]
    # Holds no worker slot while it waits (sleep, wait, workflow): the step is suspended.
    durable: ClassVar[bool] = False
    # Does nothing outside the engine's own transactions (noop; durable actions before they
    # suspend): an attempt cut short by a lost lease is run again without counting it.
    safe_to_rerun: ClassVar[bool] = False

    @classmethod
    def check(cls, with_: Any) -> list[tuple[str, str]]:
        """Problems with ``with_`` as ``(key, message)``; an empty list when it is fine."""
        if with_ is None:
            with_ = {}
        if not isinstance(with_, dict):
            return [("", f"must be a mapping of {cls.name} parameters")]
        problems: list[tuple[str, str]] = []
        known = {p.name: p for p in cls.params}
        for key in with_:
            if key not in known:
                problems.append(
                    (key, f"unknown parameter for {cls.name} (expected one of: {', '.join(known)})")
                )
        for param in cls.params:
            if param.name not in with_:
                if param.required:
                    problems.append((param.name, "is required"))
                continue
            value = with_[param.name]
            if is_template(value):
                continue
            if not any(_KIND_CHECKS[kind](value) for kind in param.kinds):
                problems.append((param.name, f"must be {' or '.join(_KIND_NAMES[k] for k in param.kinds)}"))
        problems += cls.check_more(with_)
        return problems

    @classmethod
    def check_more(cls, with_: dict[str, Any]) -> list[tuple[str, str]]:
        """Checks beyond each parameter's type (e.g. two parameters that exclude each other)."""
        return []
