"""What the engine tells its listeners once a change has committed (`Engine.listeners`):
the progress of `executor run`, tests that watch a run, metrics and traces (`telemetry`).

Events carry what their listeners need (a run's trigger and times, an attempt's action and
duration), so that no listener reads the database on the engine's path."""

from __future__ import annotations

from dataclasses import dataclass

from executor.statuses import RunStatus, StepStatus
from executor.store.records import RunRecord


@dataclass(frozen=True)
class InLine:
    """A run's or a step's new place in a key's line (`engine.exclusion`): what it waits for."""

    kind: str  # mutex, semaphore or concurrency
    key: str
    position: int  # 1: next in line


@dataclass(frozen=True)
class RunEvent:
    """A run was created (``created``), changed status, or took a place in its concurrency
    key's line (``waiting_for``; it stays `pending`)."""

    run_id: str
    workflow: str
    status: RunStatus
    error: str | None = None
    created: bool = False
    trigger: str = "api"  # what started it (`RunRecord.trigger`)
    created_at: float | None = None
    finished_at: float | None = None  # set once it is final
    traceparent: str | None = None  # the W3C trace context its starter sent
    waiting_for: InLine | None = None

    @classmethod
    def of(cls, run: RunRecord, *, created: bool = False, waiting_for: InLine | None = None) -> RunEvent:
        """The event of ``run`` as it is now (just ``created``, changed status, or in line)."""
        return cls(
            run.id,
            run.workflow_name,
            run.status,
            run.error,
            created=created,
            trigger=run.trigger,
            created_at=run.created_at,
            finished_at=run.finished_at,
            traceparent=run.traceparent,
            waiting_for=waiting_for,
        )


@dataclass(frozen=True)
class StepEvent:
    """A step row (a step, or one item of a for_each step when ``item`` >= 0) changed status."""

    run_id: str
    step_id: str
    item: int
    status: StepStatus
    attempt: int
    error: str | None = None
    # Set when this instance claimed it: seconds from the row becoming ready to the claim.
    waited: float | None = None
    waiting_for: InLine | None = None  # set when it became `waiting` in a key's line


@dataclass(frozen=True)
class RetryEvent:
    """An attempt failed and the step will be tried again after ``delay`` seconds."""

    run_id: str
    step_id: str
    item: int
    attempt: int  # the attempt that failed
    delay: float
    error: str


@dataclass(frozen=True)
class AttemptEvent:
    """An attempt that ran on this instance ended (its outcome recorded, or not: ``lost``).

    ``outcome``: succeeded, failed, suspended (a durable step now waits), cancelled (the run
    was cancelled, or a drain cut it short), lost (its lease was lost meanwhile: renewal found
    it gone and stopped the attempt, or its outcome was rejected) or error (Executor could not
    run it or record its outcome, e.g. the database)."""

    run_id: str
    step_id: str
    item: int
    attempt: int
    action: str
    outcome: str
    seconds: float


@dataclass(frozen=True)
class LlmCallEvent:
    """An attempt on this instance made a call to a model (`llm`), succeeded or not: what
    it spent (``cost_usd`` None: no price known for the model)."""

    run_id: str
    step_id: str
    model: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cost_usd: float | None


Event = RunEvent | StepEvent | RetryEvent | AttemptEvent | LlmCallEvent
