"""Rows as the engine sees them. Times are Unix seconds (float, UTC) throughout: what the
store's clock (`time.time` unless a test injects another) returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

from executor.statuses import STEP_FINAL, RunStatus, StepStatus

TRIGGERS = ("api", "cli", "schedule", "backfill", "parent")
"""What can start a run (`RunRecord.trigger`)."""


@dataclass(frozen=True)
class Instance:
    """One Executor process as it records itself in the instance registry (the times are
    set by the store: leave them None when registering)."""

    id: str
    host: str
    pid: int
    version: str
    state: str
    started_at: float | None = None
    heartbeat_at: float | None = None
    # How long it may go without a heartbeat before peers take it for dead (None: unknown).
    heartbeat_timeout: float | None = None


@dataclass(frozen=True)
class WorkflowRecord:
    name: str
    version: int
    digest: str
    source: str
    definition: dict[str, Any]
    created_at: float


@dataclass(frozen=True)
class WorkflowVersion:
    """One stored version of a workflow, without its definition (`Store.list_workflow_versions`)."""

    name: str
    version: int
    digest: str
    created_at: float


class RunCriteria(TypedDict, total=False):
    """The fields of `RunFilter` as keywords: ``engine.list_runs(workflow="w")`` is
    ``engine.list_runs(RunFilter(workflow="w"))``."""

    workflow: str | None
    status: RunStatus | None
    trigger: str | None
    since: float | None
    until: float | None
    parent: str | None
    statuses: frozenset[RunStatus] | None


@dataclass(frozen=True)
class RunFilter:
    """Which runs `Store.list_runs`, `Store.count_runs` and the bulk actions select: those
    for which every field given holds (None: any). The store, the engine and the HTTP
    layer share it."""

    workflow: str | None = None
    status: RunStatus | None = None
    trigger: str | None = None  # one of `TRIGGERS`
    since: float | None = None  # created at or after
    until: float | None = None  # created before
    parent: str | None = None  # started by a step of this run (its `parent_run_id`)
    # In one of these statuses: what a bulk action applies to. With `status`, both hold.
    statuses: frozenset[RunStatus] | None = None


@dataclass(frozen=True)
class RunRecord:
    id: str
    workflow_name: str
    workflow_version: int
    status: RunStatus
    input: Any
    outputs: Any
    error: str | None
    idempotency_key: str | None
    priority: int
    parent_run_id: str | None
    parent_step: int | None
    deadline_at: float | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    # What started it: api, cli, schedule, backfill or parent (`TRIGGERS`); a schedule's
    # id and tick (its nominal time) for schedule and backfill.
    trigger: str = "api"
    schedule_id: str | None = None
    schedule_tick: float | None = None
    # The W3C trace context its starter sent (OpenTelemetry), if any.
    traceparent: str | None = None


@dataclass(frozen=True)
class StepRow:
    id: int
    run_id: str
    step_id: str
    item_index: int  # -1: the step itself; >= 0: one item of its for_each
    status: StepStatus
    attempt: int
    available_at: float | None
    lease_owner: str | None
    lease_token: str | None
    lease_expires_at: float | None
    state: Any
    output: Any
    error: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    # The attempts that ended, oldest first: `Attempt` dictionaries (see `engine.history`).
    history: list[dict[str, Any]] | None = None

    @property
    def final(self) -> bool:
        return self.status in STEP_FINAL

    def replace(self, **changes: Any) -> StepRow:
        """A copy with ``changes`` (`dataclasses.replace` without its per-call introspection,
        which cost more than the SQL of a step on the hot path). Unknown names are refused."""
        unknown = changes.keys() - self.__dict__.keys()
        if unknown:
            raise TypeError(f"StepRow has no field(s) {', '.join(sorted(unknown))}")
        copy = object.__new__(StepRow)
        copy.__dict__.update(self.__dict__)
        copy.__dict__.update(changes)
        return copy


class StepFields(TypedDict, total=False):
    """Columns of a step row that a transaction may set besides its status (the lease
    columns are the claim's and renewal's; leaving `running` clears them)."""

    attempt: int
    available_at: float | None
    state: Any
    output: Any
    error: str | None
    started_at: float | None
    finished_at: float | None
    history: list[dict[str, Any]] | None


class StepChanges(StepFields, total=False):
    """Columns of a step row that `Txn.update_step` sets (leaving `running` clears the lease)."""

    status: StepStatus


class RunFields(TypedDict, total=False):
    """Columns of a run that a transaction may set besides its status."""

    outputs: Any
    error: str | None
    started_at: float | None
    finished_at: float | None
    deadline_at: float | None


class RunChanges(RunFields, total=False):
    """Columns of a run that `Txn.update_run` sets."""

    status: RunStatus


@dataclass(frozen=True)
class ScheduleRow:
    """A schedule's state (`Store` keeps one per schedule a workflow's latest version declares)."""

    workflow_name: str
    schedule_id: str
    spec: dict[str, Any]  # the declaration (`Schedule.to_json`)
    active: bool  # False: the latest version no longer declares it
    paused: bool
    next_tick: float | None  # the first tick not yet handled (None: to be computed, or no more)
    due_at: float | None  # when to handle it next (None: never)
    last_tick: float | None  # the last tick that started a run
    # Ticks waiting for the running run to end (overlap buffer_*, backfills), oldest first:
    # ``{"tick": seconds, "trigger": "schedule" | "backfill"}``.
    buffered: list[dict[str, Any]]
    fired: int
    missed: int
    skipped: int
    created_at: float
    updated_at: float


class ScheduleFields(TypedDict, total=False):
    """Columns of a schedule that `Txn.update_schedule` sets."""

    paused: bool
    next_tick: float | None
    due_at: float | None
    last_tick: float | None
    buffered: list[dict[str, Any]]
    fired: int
    missed: int
    skipped: int


@dataclass(frozen=True)
class Origin:
    """What starts a run: its `trigger` (one of `TRIGGERS`), the schedule and tick that
    fired it, and the trace context its starter sent."""

    trigger: str = "api"
    schedule_id: str | None = None
    schedule_tick: float | None = None  # the tick's nominal time
    traceparent: str | None = None


@dataclass(frozen=True)
class NewStep:
    step_id: str
    item_index: int = -1
    status: StepStatus = StepStatus.PENDING
    available_at: float | None = None
    state: Any = None


@dataclass(frozen=True)
class NewRun:
    id: str
    workflow_name: str
    workflow_version: int
    input: Any
    idempotency_key: str | None = None
    priority: int = 0
    parent_run_id: str | None = None
    parent_step: int | None = None
    deadline_at: float | None = None
    trigger: str = "api"
    schedule_id: str | None = None
    schedule_tick: float | None = None
    traceparent: str | None = None


@dataclass(frozen=True)
class Claimed:
    """A step row this instance holds a lease on, with what running it needs of its run."""

    row: StepRow
    workflow_name: str
    workflow_version: int
    run_input: Any
    # True when a waiting (durable) step was claimed because its timer fell due.
    resumed: bool
    # The schedule and tick that started the run, if one did (templates see them).
    schedule_id: str | None = None
    schedule_tick: float | None = None

    @property
    def token(self) -> str:
        assert self.row.lease_token is not None
        return self.row.lease_token


@dataclass(frozen=True)
class LogLine:
    step: int  # steps.id
    attempt: int
    stream: str  # stdout, stderr or system
    line: str
    created_at: float


@dataclass(frozen=True)
class StoredLogLine:
    id: int
    attempt: int
    stream: str
    line: str
    created_at: float


@dataclass(frozen=True)
class NewLlmCall:
    """One call an attempt made to a model (`llm`), as `Store.record_llm_calls` keeps it."""

    run_id: str
    step_id: str
    item_index: int  # -1 unless the step runs for_each
    attempt: int
    model: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int  # of the input tokens
    reasoning_tokens: int  # of the output tokens
    cost_usd: float | None  # None: no price known for the model
    seconds: float  # latency: from the request sent to the reply read
    error: str | None = None  # None: the call succeeded

    @property
    def outcome(self) -> str:
        return "succeeded" if self.error is None else "failed"


@dataclass(frozen=True)
class LlmCallRecord(NewLlmCall):
    id: int = 0
    created_at: float = 0.0


@dataclass(frozen=True)
class LlmTotals:
    """What a run's calls to models add up to (`Store.run_llm_totals`). ``cost_usd`` sums
    the calls whose price was known: a call to a model without one adds nothing."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float = 0.0


@dataclass(frozen=True)
class Place:
    """A run's (``step`` None) or a step row's place under a key of mutual exclusion: it
    holds the key, or waits in the key's line (FIFO) at ``position`` (1: next in line)."""

    key: str
    run_id: str
    step: int | None  # steps.id of the step-level row; None: the run's own place
    step_id: str | None  # that row's step id
    limit: int  # the limit it was taken with (a mutex: 1)
    holding: bool
    position: int  # 0 while holding
    created_at: float  # when it joined the line
    held_at: float | None  # when it was let in (None: still waiting)


@dataclass(frozen=True)
class NewArtifact:
    """A file an attempt leaves, before its bytes are uploaded (`Store.add_artifact`)."""

    run_id: str
    step: int  # steps.id of the row whose attempt made it (an item's row in a for_each)
    step_id: str
    item_index: int
    attempt: int
    token: str  # the claim's lease token: its success keeps the file, anything else drops it
    name: str
    media_type: str
    stored: str  # "database" or "directory"


@dataclass(frozen=True)
class ArtifactRecord:
    id: int
    run_id: str
    step: int
    step_id: str
    item_index: int
    attempt: int
    name: str
    size: int
    sha256: str | None  # None until its upload finished
    media_type: str
    stored: str
    state: str  # uploading, kept, superseded
    created_at: float
