"""Mutual exclusion in the language: a step's ``mutex``/``semaphore`` and a workflow's
``concurrency`` key (the engine's side is `executor.engine.exclusion`).

Keys are templates: a step's is rendered when the step would be queued (over the run's
context: inputs, the steps it needs, ...), a run's when the run is created (over its
inputs). Runs and steps of every workflow that render the same key share it, fleet-wide.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from executor.workflow import expressions

SEMAPHORE_KEYS = ("key", "limit")
CONCURRENCY_KEYS = ("key", "limit", "policy")
POLICIES = ("queue", "skip", "cancel_running")
MAX_KEY = 200  # characters of a rendered key
MAX_LIMIT = 10_000  # holders of one key at once (the store keeps it in a 64-bit integer)
# A step's key is rendered once for the step, before its items, attempts or iterations
# exist: these names are never defined there.
NOT_IN_STEP_KEY = {
    "item": "the key is rendered once for the whole for_each step, not per item",
    "index": "the key is rendered once for the whole for_each step, not per item",
    "result": "the key is rendered before the step runs",
    "loop": "the key is rendered once for the whole repeat step, not per iteration",
}

Policy = Literal["queue", "skip", "cancel_running"]


@dataclass(frozen=True)
class Semaphore:
    """A step's key: at most ``limit`` steps hold it at once (a mutex: 1)."""

    key: str  # a template
    limit: int = 1
    mutex: bool = False  # written as `mutex: key` (limit 1)

    @property
    def where(self) -> str:
        """The key's path within its step, for problems and render errors."""
        return "mutex" if self.mutex else "semaphore.key"

    def to_json(self) -> dict[str, Any]:
        if self.mutex:
            return {"mutex": self.key}
        return {"semaphore": {"key": self.key, "limit": self.limit}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Semaphore | None:
        if data.get("mutex") is not None:
            return cls(key=data["mutex"], mutex=True)
        semaphore = data.get("semaphore")
        return None if semaphore is None else cls(key=semaphore["key"], limit=semaphore["limit"])


@dataclass(frozen=True)
class Concurrency:
    """A workflow's key: at most ``limit`` of the runs that render it run at once; a new
    run beyond the limit waits (``queue``), ends cancelled (``skip``), or cancels the
    oldest holders to take their place (``cancel_running``)."""

    key: str  # a template over inputs
    limit: int = 1
    policy: Policy = "queue"

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "limit": self.limit, "policy": self.policy}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Concurrency | None:
        return None if data is None else cls(key=data["key"], limit=data["limit"], policy=data["policy"])


Add = Callable[[str, str], None]  # the parser's `_Checker.add`: (path, message)
UnknownKeys = Callable[[str, dict[str, Any], tuple[str, ...]], None]


def check_step(add: Add, unknown: UnknownKeys, base: str, raw: dict[str, Any]) -> Semaphore | None:
    """A step's ``mutex`` or ``semaphore``, every problem reported with its path."""
    mutex, semaphore = raw.get("mutex"), raw.get("semaphore")
    if mutex is not None and semaphore is not None:
        add(
            f"{base}.semaphore",
            "a step takes a mutex or a semaphore, not both (a mutex is a semaphore of limit 1)",
        )
        return None
    if mutex is not None:
        key = _key(
            add, f"{base}.mutex", mutex, 'must be the name of a key, e.g. "ledger" or "db-{{ inputs.env }}"'
        )
        _step_key_names(add, f"{base}.mutex", key)
        return None if key is None else Semaphore(key, mutex=True)
    if semaphore is None:
        return None
    path = f"{base}.semaphore"
    if not isinstance(semaphore, dict):
        add(path, "must be a mapping with key and limit, e.g. {key: gpu, limit: 2}")
        return None
    unknown(path, semaphore, SEMAPHORE_KEYS)
    key = _key(add, f"{path}.key", semaphore.get("key"), "is required: the name of the key")
    _step_key_names(add, f"{path}.key", key)
    limit = _limit(add, f"{path}.limit", semaphore.get("limit"), required=True)
    return None if key is None or limit is None else Semaphore(key, limit)


def check_workflow(add: Add, unknown: UnknownKeys, value: Any) -> Concurrency | None:
    """A workflow's ``concurrency``, every problem reported with its path."""
    if value is None:
        return None
    if not isinstance(value, dict):
        add(
            "concurrency",
            'must be a mapping with key, limit and policy, e.g. {key: "deploy-{{ inputs.env }}"}',
        )
        return None
    unknown("concurrency", value, CONCURRENCY_KEYS)
    key = _key(add, "concurrency.key", value.get("key"), "is required: the name of the key")
    if key is not None:
        for _, source in expressions.iter_templates(key):
            for name in sorted(expressions.unknown_names(source)):
                add(
                    "concurrency.key",
                    f"unknown variable {name!r} (one of: {', '.join(expressions.CONTEXT_NAMES)})",
                )
            if expressions.step_references(source):
                add(
                    "concurrency.key",
                    "is rendered when the run is created, before any step: use inputs, not steps",
                )
    limit = _limit(add, "concurrency.limit", value.get("limit", 1), required=False)
    policy = value.get("policy", "queue")
    if policy not in POLICIES:
        add("concurrency.policy", f"{policy!r} is not a policy (one of: {', '.join(POLICIES)})")
        return None
    return None if key is None or limit is None else Concurrency(key, limit, policy)


def _key(add: Add, path: str, value: Any, missing: str) -> str | None:
    if value is None:
        add(path, missing)
    elif not isinstance(value, str) or not value.strip():
        add(path, "must be a non-empty string (a template may make it, e.g. deploy-{{ inputs.env }})")
    elif len(value) > MAX_KEY:
        add(path, f"is longer than {MAX_KEY} characters")
    else:
        problems = expressions.compile_problems(value)
        for relative, message in problems:
            add(f"{path}{relative}", message)
        return None if problems else value
    return None


def _step_key_names(add: Add, path: str, key: str | None) -> None:
    """A step's key names no variable its render lacks (other unknown variables and steps
    that are not needs: the parser's template checks, as for ``with``)."""
    for relative, source in expressions.iter_templates(key or ""):
        for name in sorted(expressions.names_read(source) & NOT_IN_STEP_KEY.keys()):
            add(f"{path}{relative}", f"cannot use {name!r}: {NOT_IN_STEP_KEY[name]}")


def _limit(add: Add, path: str, value: Any, *, required: bool) -> int | None:
    if value is None and required:
        add(path, "is required: how many may hold the key at once")
    elif not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_LIMIT:
        add(path, f"must be a whole number from 1 to {MAX_LIMIT}")
    else:
        return value
    return None
