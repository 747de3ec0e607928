"""What the engine tells its listeners once a change has committed (`Engine.listeners`):
the progress of `executor run`, tests that watch a run, and later metrics."""

from __future__ import annotations

from dataclasses import dataclass

from executor.statuses import RunStatus, StepStatus


@dataclass(frozen=True)
class RunEvent:
    """A run was created or changed status."""

    run_id: str
    workflow: str
    status: RunStatus
    error: str | None = None


@dataclass(frozen=True)
class StepEvent:
    """A step row (a step, or one item of a for_each step when ``item`` >= 0) changed status."""

    run_id: str
    step_id: str
    item: int
    status: StepStatus
    attempt: int
    error: str | None = None


@dataclass(frozen=True)
class RetryEvent:
    """An attempt failed and the step will be tried again after ``delay`` seconds."""

    run_id: str
    step_id: str
    item: int
    attempt: int  # the attempt that failed
    delay: float
    error: str


Event = RunEvent | StepEvent | RetryEvent
