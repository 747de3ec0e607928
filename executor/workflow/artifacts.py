"""The workflow language's side of artifacts: a step's ``artifacts:`` (further paths or
globs to keep, relative to its working directory) and a shell step's
``with.artifacts_from`` (steps whose artifacts it finds in its working directory), checked
when the workflow loads."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import PurePosixPath
from typing import Any

from executor.workflow.expressions import is_template

Add = Callable[[str, str], None]
MAX_PATTERNS = 100
TAKES_ARTIFACTS = ("shell",)  # actions whose attempts leave files


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be an ``artifacts:`` entry: it must stay inside the working
    directory (None: it can)."""
    if not pattern.strip() or pattern.startswith("/") or ".." in PurePosixPath(pattern).parts:
        return "a path or glob relative to the step's working directory, without '..'"
    if any(ord(c) < 32 for c in pattern):
        return "a path has no control characters"
    return None


def check_step(base: str, raw: dict[str, Any], action: Any, add: Add) -> tuple[str, ...]:
    value = raw.get("artifacts")
    if value is None:
        return ()
    path = f"{base}.artifacts"
    if action not in TAKES_ARTIFACTS:
        add(path, f"only a step whose action is one of {', '.join(TAKES_ARTIFACTS)} leaves artifacts")
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or len(value) > MAX_PATTERNS:
        add(path, f"must be a path or a list of 1 to {MAX_PATTERNS} paths or globs")
        return ()
    patterns = []
    for index, pattern in enumerate(value):
        problem = "must be a string" if not isinstance(pattern, str) else pattern_problem(pattern)
        if problem is not None:
            add(f"{path}[{index}]", problem)
        else:
            patterns.append(pattern)
    return tuple(patterns)


def check_from(
    where: str, step_id: str | None, with_: Any, known: Iterable[str], needed: set[str], add: Add
) -> None:
    """``with.artifacts_from`` names steps this one needs (transitively): only they are
    sure to have finished. A literal list: a template would escape these checks (and a
    string it gave would be taken a character at a time)."""
    sources = with_.get("artifacts_from") if isinstance(with_, dict) else None
    if is_template(sources):
        add(f"{where}.with.artifacts_from", "must be a literal list of step ids, not a template")
        return
    if not isinstance(sources, list):
        return
    steps = list(known)
    for index, source in enumerate(sources):
        path = f"{where}.with.artifacts_from[{index}]"
        if source not in steps:
            add(path, f"{source!r} is not a step (steps: {', '.join(steps)})")
        elif source == step_id:
            add(path, "a step cannot take its own artifacts")
        elif source not in needed:
            add(path, f"{source!r} is not a dependency of {step_id}; add it to needs")
