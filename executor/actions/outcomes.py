"""What one attempt of a step came to, as the runner reports it to the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Succeeded:
    output: Any
    # Bytes of artifacts the attempt uploaded (`executor.artifacts`): the transaction that
    # records the success keeps them.
    artifacts: int | None = None


@dataclass(frozen=True)
class EndRun(Succeeded):
    """The step succeeded (its `output` says how) and asks the run to end at once with
    ``status`` (`terminate`)."""

    status: str = "succeeded"
    message: str = ""


@dataclass(frozen=True)
class CancelRegion(Succeeded):
    """The step succeeded and asks for ``steps`` of its run to be cancelled (`cancel`)."""

    steps: tuple[str, ...] = ()


@dataclass(frozen=True)
class Failed:
    error: str
    # False for failures that another attempt cannot mend (a template that does not render).
    retryable: bool = True
    # What the action reports with its failure (`retry.when` sees it as `result`).
    result: Any = None
    # Seconds the next attempt waits at least (an HTTP `Retry-After`); None: the policy's.
    retry_after: float | None = None
    # What the failed step keeps as its output (a `repeat` that failed at `max`: the last
    # iteration's), for `continue_on_error` dependents and `finally` steps.
    output: Any = None


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
    # Take this signal now if it is already waiting; a list: the first of them (a choice).
    signal: str | list[str] | None = None
    child: ChildRun | None = None  # start this child run and wait for it


Outcome = Succeeded | Failed | Suspend
