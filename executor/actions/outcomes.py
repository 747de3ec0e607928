"""What one attempt of a step came to, as the runner reports it to the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Succeeded:
    output: Any


@dataclass(frozen=True)
class Failed:
    error: str
    # False for failures that another attempt cannot mend (a template that does not render).
    retryable: bool = True


@dataclass(frozen=True)
class ChildRun:
    workflow: str
    input: Any
    version: int | None = None


@dataclass(frozen=True)
class Suspend:
    """Hold no worker slot until ``wake_at`` (or a signal, or a child run) resumes the step."""

    state: dict[str, Any] = field(default_factory=dict)
    wake_at: float | None = None
    signal: str | None = None  # take this signal now if it is already waiting
    child: ChildRun | None = None  # start this child run and wait for it


Outcome = Succeeded | Failed | Suspend
