"""The `Store`: every database operation the service performs, named in domain terms.

The engine and the HTTP layer never see SQL. Two implementations exist, `SQLiteStore`
(embedded default) and `PostgresStore` (fleets); one contract test suite
(``tests/contract``) runs against both, and a difference in behaviour between them is a bug.

Contract shared by every method:

* A method that changes state commits before it returns: once it has returned, the change
  survives a crash of the process (``kill -9``) and, with default settings, a power loss.
* A method that fails raises `StoreError` (driver errors are wrapped ``from`` the original)
  and leaves no partial change behind.
* Times are Unix seconds (``float``, UTC), in and out, as in `executor.store.records`,
  kept to the microsecond. Every "now" a store decides with (a claim's readiness and
  lease, a renewal, a reaped lease, an overdue deadline, a creation time, a heartbeat) is
  read from one clock: SQLite's is this host's (its processes share one host), PostgreSQL's
  the database server's (so the instances of a fleet measure leases on one clock whatever
  their hosts' clocks say). A store given a `Clock` reads that instead, so tests advance
  time instead of sleeping.
* JSON values (inputs, outputs, states, payloads, definitions) read back equal to what was
  written, but an object's keys not necessarily in their order (PostgreSQL's jsonb keeps its
  own). What JSON or PostgreSQL cannot hold is kept alike by both stores: NaN and ±Infinity
  as null; a NUL character, in JSON strings, log lines and errors, as U+FFFD.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, NamedTuple, Unpack

from executor.statuses import RunStatus, StepStatus
from executor.store.records import (
    ArtifactRecord,
    Claimed,
    Instance,
    LlmCallRecord,
    LlmTotals,
    LogLine,
    NewArtifact,
    NewLlmCall,
    NewRun,
    NewStep,
    Place,
    RunChanges,
    RunFilter,
    RunRecord,
    ScheduleFields,
    ScheduleRow,
    StepChanges,
    StepRow,
    StoredLogLine,
    WorkflowRecord,
    WorkflowVersion,
)

__all__ = ["Clock", "DuplicateRun", "Instance", "PurgeBatch", "PurgeCursor", "Store", "Txn"]

Clock = Callable[[], float]
"""Where a store reads "now", in Unix seconds (`time.time` by default)."""


class Store(abc.ABC):
    dialect: str

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect. Raises `StoreError` when the database cannot be reached.

        Does not migrate and does not check the schema version: that is `executor.migrate`'s
        job, done before the store is opened.
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """Release every connection. Safe to call more than once, and after a failed `open`."""

    async def watch(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` whenever another process queues work, until cancelled.

        The default watches nothing and returns: other processes' work is then found by
        polling. PostgreSQL listens for notifications (LISTEN/NOTIFY).
        """
        return None

    @abc.abstractmethod
    async def ping(self) -> None:
        """Round-trip to the database; raise `StoreError` when it does not answer."""

    @abc.abstractmethod
    async def register_instance(self, instance: Instance) -> None:
        """Record (or replace) ``instance`` in the registry (its heartbeat timeout too), its
        heartbeat set to now."""

    @abc.abstractmethod
    async def heartbeat(self, instance_id: str, state: str) -> None:
        """Set the instance's state and its heartbeat to now.

        Raises `StoreError` when the instance is not registered: a registry row that
        vanished (deleted by an operator) must not be recreated silently.
        """

    @abc.abstractmethod
    async def list_instances(self) -> list[Instance]:
        """Every registered instance, oldest first."""

    @abc.abstractmethod
    async def steps_in_flight(self) -> dict[str, int]:
        """``{instance id: rows}``: the step rows `running` under a lease that instance holds
        (whether or not the lease has expired: until it is reaped, it is that instance's).
        Instances holding none are left out."""

    @abc.abstractmethod
    async def release_instance(self, instance_id: str) -> int:
        """Mark a dead instance stopped and expire its leases now; return how many it held.

        Its steps are then reaped like any expired lease (a lost attempt, see
        `RunChange.lease_expired`), without waiting for the lease to run out.
        """

    @abc.abstractmethod
    async def release_silent_instances(self, *, me: str, unknown_timeout: float) -> dict[str, int]:
        """Release (as `release_instance`) every instance but ``me``, not stopped, whose
        heartbeat is older than its own ``heartbeat_timeout`` (``unknown_timeout`` for one
        registered without it); return ``{instance id: leases}``.

        One transaction: an instance that beats while this runs is either released (and its
        late outcomes fenced) or left alone, never marked stopped with its leases kept.
        """

    @abc.abstractmethod
    async def dead_local_instances(self, host: str, alive: Sequence[int]) -> list[Instance]:
        """Instances on ``host`` not stopped whose pid is not in ``alive`` (caller checks pids)."""

    # -- workflows -----------------------------------------------------------------------

    @abc.abstractmethod
    async def register_workflow(
        self, name: str, digest: str, source: str, definition: dict[str, Any]
    ) -> tuple[WorkflowRecord, bool]:
        """Store a definition as the next version of ``name``; return it and whether it is new.

        Sending a definition whose digest is already stored for ``name`` creates nothing and
        returns the existing version (False). Two concurrent registrations of different
        definitions get consecutive versions; of the same definition, one version.

        In the same transaction, when the version is the latest, the schedules its
        definition declares (its ``schedules`` list, each with an ``id``) become the
        workflow's: a new one, one whose declaration changed, or one back after a version
        without it is due now with no next tick (the scheduler computes it: it starts afresh,
        without catching up); an unchanged one keeps its next tick and buffer; any other of
        the workflow's schedules becomes inactive. Pauses and counts survive every version.
        """

    @abc.abstractmethod
    async def get_workflow(self, name: str, version: int | None = None) -> WorkflowRecord | None:
        """One version (the latest when ``version`` is None), or None when there is none."""

    @abc.abstractmethod
    async def list_workflows(self) -> list[WorkflowRecord]:
        """The latest version of every workflow, by name."""

    @abc.abstractmethod
    async def list_workflow_versions(self, name: str) -> list[WorkflowVersion]:
        """Every stored version of workflow ``name``, newest first (empty: no such workflow)."""

    # -- schedules -----------------------------------------------------------------------

    @abc.abstractmethod
    async def list_schedules(self, workflow: str | None = None) -> list[ScheduleRow]:
        """The active schedules (of one workflow when given), by workflow and id."""

    @abc.abstractmethod
    async def get_schedule(self, workflow: str, schedule_id: str) -> ScheduleRow | None:
        """One schedule, active or not (None: never declared)."""

    @abc.abstractmethod
    async def due_schedules(self, limit: int) -> list[tuple[str, str]]:
        """``(workflow, schedule id)`` of at most ``limit`` active, unpaused schedules whose
        ``due_at`` has passed, earliest first."""

    @abc.abstractmethod
    async def next_schedule_due(self) -> float | None:
        """The earliest ``due_at`` of an active, unpaused schedule, or None."""

    # -- runs and steps: the unit of work -------------------------------------------------

    @abc.abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Txn]:
        """A write transaction: everything done through the `Txn` commits together when the
        block ends, or not at all when it raises. Transactions on one run are serialised
        (`Txn.lock_run`), so the engine's read-decide-write on a run is never interleaved."""

    @abc.abstractmethod
    async def get_run(self, run_id: str) -> tuple[RunRecord, list[StepRow]] | None:
        """A run and all its step rows (ordered by id), read outside any transaction."""

    @abc.abstractmethod
    async def list_runs(
        self,
        filter: RunFilter = RunFilter(),
        *,
        before: tuple[float, str] | None = None,
        limit: int = 50,
    ) -> list[RunRecord]:
        """The runs ``filter`` selects, newest first (by creation time, then id), strictly
        older than ``before`` = ``(created_at, id)`` when given.

        Paging with the last run's ``(created_at, id)`` as the next ``before`` is stable
        under concurrent inserts: new runs are newer than every page already read (and
        status changes move no run between pages: the order is by creation). A ``before``
        or a ``filter.parent`` whose id cannot be a run's (not a UUID) lists nothing.

        The first page, of every run or of one workflow, status or trigger, reads an index
        in its order and stops at ``limit``: its cost does not grow with the runs kept.
        """

    @abc.abstractmethod
    async def count_runs(self, filter: RunFilter = RunFilter()) -> int:
        """How many runs ``filter`` selects (as `list_runs` would list them all). It may
        read every run that the filter's most selective index holds: for confirmations,
        not for pages shown often."""

    @abc.abstractmethod
    async def run_counts(self) -> dict[str, dict[RunStatus, int]]:
        """``{workflow name: {status: runs}}`` of every run kept, in one query; statuses
        without a run are left out, and so are workflows without one."""

    @abc.abstractmethod
    async def step_results(self, run_id: str) -> dict[str, tuple[StepStatus, Any]]:
        """``step_id → (status, output)`` of the run's step-level rows (item_index -1)."""

    # -- claiming ------------------------------------------------------------------------

    @abc.abstractmethod
    async def renew_leases(self, owner: str, rows: Sequence[tuple[int, str]], lease: float) -> set[int]:
        """Extend the leases ``(row id, token)`` still held by ``owner`` to ``lease`` seconds
        from now; return the ids renewed.

        A row missing from the answer was lost (finished, cancelled, or reclaimed after
        expiry): its attempt must stop, and its outcome will be rejected. A lease that
        expired is held until it is reaped: renewing it in time keeps it.
        """

    @abc.abstractmethod
    async def hand_back(self, claimed: Sequence[Claimed], started: Collection[int] = ()) -> int:
        """Return rows whose attempt was cancelled by a drain to the queue, to be claimed again
        (an attempt a drain cuts short is lost, not failed: it spends no retry).

        A queued row goes back to `queued`, `started_at` cleared. If its id is in
        ``started`` (its attempt began) the attempt ends in its history as `lost` (reason
        ``drain``, the instance that held it, its start and now, and the row's ``iteration``
        when its state has one, see `engine.history`); otherwise it never ran and
        gets its attempt number back. A resumed waiting row goes back to `waiting` (its
        attempt goes on). Either gives up its lease and is due at once (`available_at`
        now). Rows whose lease is no longer held (another token, or no longer `running`)
        are left alone. Returns how many rows were handed back.
        """

    @abc.abstractmethod
    async def expired_leases(self, limit: int) -> list[tuple[str, int, str]]:
        """``(run id, row id, token)`` of at most ``limit`` `running` rows whose lease has
        expired (its expiry is before now)."""

    @abc.abstractmethod
    async def overdue_runs(self, limit: int) -> list[str]:
        """Ids of at most ``limit`` unfinished (`pending`, `running`, `paused`) runs whose
        deadline is before now."""

    @abc.abstractmethod
    async def next_due(self) -> float | None:
        """The earliest `available_at` of any `queued` or `waiting` row of a `pending` or
        `running` run (the rows a claim could take once due), or None."""

    # -- mutual exclusion ----------------------------------------------------------------

    @abc.abstractmethod
    async def run_places(self, run_id: str) -> list[Place]:
        """The places of a run and of its steps under keys (see `Txn.take_place`), oldest
        first: what it holds and what it waits for (with its position in line)."""

    @abc.abstractmethod
    async def places_under(self, key: str) -> list[Place]:
        """As `Txn.places_under`, outside any transaction."""

    @abc.abstractmethod
    async def kept_places(self, age: float, limit: int) -> list[tuple[str, int | None]]:
        """``(run id, step row or None)`` of at most ``limit`` places still there although
        their step (or, for a run's own place, their run) became final more than ``age``
        seconds ago: places kept for a stopped attempt whose end was never reported."""

    # -- logs ----------------------------------------------------------------------------

    @abc.abstractmethod
    async def append_logs(self, lines: Sequence[LogLine]) -> None:
        """Append step log lines (one transaction for the batch)."""

    @abc.abstractmethod
    async def read_logs(self, step: int, after: int = 0, limit: int = 1000) -> list[StoredLogLine]:
        """Log lines of step row ``step`` with id > ``after``, oldest first."""

    # -- artifacts -----------------------------------------------------------------------
    # An artifact's row says what it is; its bytes are in `artifact_chunks` (stored
    # "database") or in a file the caller keeps (stored "directory": `executor.artifacts`).
    # Its life: `add_artifact` (uploading, under its attempt's claim), chunks and
    # `finish_artifact`, then `Txn.keep_artifacts` in the transaction that records the
    # attempt's success (kept), or `discard_artifacts` / the sweep (`unkept_artifacts`,
    # `delete_artifacts`). Only kept artifacts are listed or found; a run's go with it.

    @abc.abstractmethod
    async def add_artifact(self, artifact: NewArtifact) -> int:
        """Insert ``artifact`` as uploading (size 0, no sha256) and return its id."""

    @abc.abstractmethod
    async def put_artifact_chunks(self, artifact: int, first: int, chunks: Sequence[bytes]) -> None:
        """Store ``chunks`` as chunks ``first``, ``first + 1``... of ``artifact``, in one
        transaction. A chunk number written twice is a `StoreError`."""

    @abc.abstractmethod
    async def finish_artifact(self, artifact: int, size: int, sha256: str) -> bool:
        """Record the size and sha256 of an uploaded artifact (still uploading: only
        `Txn.keep_artifacts` makes it visible). False when it is no longer uploading: the
        sweep or a discard deleted it (its claim is over), and a file the caller wrote for
        it is the caller's to delete."""

    @abc.abstractmethod
    async def discard_artifacts(self, step: int, token: str) -> list[ArtifactRecord]:
        """Delete the uploads of the claim ``token`` of step row ``step`` that were not kept,
        with their chunks; return them (the caller deletes the files of those it stored)."""

    @abc.abstractmethod
    async def list_artifacts(self, run_id: str) -> list[ArtifactRecord]:
        """The kept artifacts of a run by step id, item index and name ([] for an unknown run)."""

    @abc.abstractmethod
    async def get_artifact(
        self, run_id: str, step_id: str, item_index: int, name: str
    ) -> ArtifactRecord | None:
        """The kept artifact ``name`` of the step (item ``item_index``; -1: the step itself)."""

    @abc.abstractmethod
    async def read_artifact_chunk(self, artifact: int, seq: int) -> bytes | None:
        """Chunk ``seq`` of an artifact stored in the database; None past its end."""

    @abc.abstractmethod
    async def kept_artifact_bytes(self, run_id: str, besides: int | None = None) -> int:
        """The total size of the run's kept artifacts, but those of step row ``besides``
        (the row about to keep new ones: its own are superseded then)."""

    @abc.abstractmethod
    async def unkept_artifacts(self, limit: int) -> list[ArtifactRecord]:
        """Up to ``limit`` artifacts that will never be kept, oldest first: superseded ones,
        and uploads whose claim is over (their step row no longer runs under that token).
        An upload whose attempt still holds its claim is never among them."""

    @abc.abstractmethod
    async def delete_artifacts(self, ids: Sequence[int]) -> None:
        """Delete those of ``ids`` that are not kept, with their chunks."""

    @abc.abstractmethod
    async def missing_runs(self, run_ids: Sequence[str]) -> list[str]:
        """Those of ``run_ids`` that name no run (deleted, or never a run id)."""

    # -- metrics -------------------------------------------------------------------------

    @abc.abstractmethod
    async def step_counts(self) -> dict[str, int]:
        """``{"ready": n, "running": m}``: rows a claim could take now (the claim's condition:
        `queued` or `waiting`, due, of a `pending` or `running` run) and rows `running` under
        a lease, of every instance. For `/metrics` at scrape time, never on the engine's path."""

    @abc.abstractmethod
    async def run_traceparent(self, run_id: str) -> str | None:
        """The trace context run ``run_id`` was started with (None: none, or no such run)."""

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- model calls (`llm`): what a run spent -------------------------------------------

    @abc.abstractmethod
    async def record_llm_calls(self, calls: Sequence[NewLlmCall]) -> None:
        """Keep ``calls`` (one transaction for the batch), each with now as its time, whatever
        became of their attempts: a call was paid for even when its outcome is rejected. A
        call whose run no longer exists is dropped. Calls go with their run (`purge_runs`)."""

    @abc.abstractmethod
    async def run_llm_totals(self, run_id: str) -> LlmTotals:
        """What the run's recorded calls add up to, in one indexed query: their count and
        tokens, and ``cost_usd`` the sum of the costs known (a call without a price adds
        nothing). Zeros for a run without calls, or no such run."""

    @abc.abstractmethod
    async def list_llm_calls(self, run_id: str, after: int = 0, limit: int = 1000) -> list[LlmCallRecord]:
        """At most ``limit`` of the run's calls with id > ``after``, oldest first ([] for an
        unknown run, or an id that cannot be a run's)."""

    # -- retention -----------------------------------------------------------------------

    @abc.abstractmethod
    async def purge_runs(
        self,
        older_than: float,
        *,
        workflow: str | None = None,
        status: RunStatus | None = None,
        after: PurgeCursor | None = None,
        limit: int = 100,
        dry_run: bool = False,
    ) -> PurgeBatch:
        """Delete one page of finished runs that finished more than ``older_than`` seconds
        ago, with their steps, step logs and signals, in one short transaction.

        The page is the next ``limit`` finished runs (of ``workflow``, or of every workflow
        when None) in the order of ``(finished_at, id)``, oldest first, strictly after the
        cursor ``after`` (from the start when None): its cost does not depend on how many
        runs the database holds, nor on how many of the page match. Of the page, the runs
        in ``status`` (any final status when None) are deleted if they can go now:

        * still finished and still older than the cutoff (a retried run is not finished);
        * their parent run, if any, finished: an unfinished parent still waits for them;
        * no child run left: a parent goes after its children (in the same transaction
          when they are in the same page; otherwise in a later page or pass).

        An unfinished run (`pending`, `running`, `paused`) is never deleted, nor a run of an
        unfinished parent. ``dry_run`` deletes nothing and counts, of the same page, the
        runs that would go or whose child runs would all go too (finished before the cutoff,
        in ``status``, of ``workflow``).

        Returns how many runs were deleted (or would be) and the cursor of the next page;
        the cursor is None when the page was empty (nothing is left to look at). A run the
        cursor has passed is not looked at again before the next pass, which starts over.
        """

    @abc.abstractmethod
    async def take_chore(self, name: str, owner: str, *, lease: float, every: float) -> bool:
        """Take (or, for its holder, renew) the lease on chore ``name`` for ``lease`` seconds
        from now; return whether ``owner`` holds it now.

        Taken when nobody holds it, or the holder's lease has expired, and it was not done
        (`finish_chore` with ``done``) within the last ``every`` seconds. At most one owner
        holds a chore at a time, fleet-wide: of two instances taking it at once, one gets it.
        """

    @abc.abstractmethod
    async def finish_chore(self, name: str, owner: str, *, done: bool) -> None:
        """Let go of chore ``name`` if ``owner`` holds it; ``done`` records now as when it
        was last done (not done: any instance may take it again at once)."""

    async def reclaim_space(self) -> int:
        """Give some of the space that deletions freed back to the file system, in one
        short transaction; return how much is left to give back (0: nothing).

        SQLite moves at most a few megabytes of pages at a time (incremental auto-vacuum)
        and truncates the file; call again until it returns 0. The default does nothing:
        PostgreSQL reuses the space of deleted rows once autovacuum has been through.
        """
        return 0


class Txn(abc.ABC):
    """The operations of one write transaction (see `Store.transaction`)."""

    @property
    @abc.abstractmethod
    def writes(self) -> int:
        """A count that grows with every write this transaction makes (rows or statements).
        A caller that sees it unchanged after a failed operation knows the transaction is as
        it was before that operation."""

    async def work_queued(self) -> None:
        """Tell other processes, once this transaction commits, that work became claimable.

        A no-op where nobody else can listen (SQLite: other processes poll)."""
        return None

    async def prefetch(
        self, runs: Sequence[str], rows: Sequence[int], steps: Sequence[tuple[str, str]]
    ) -> None:
        """A hint: this transaction is about to lock ``runs`` and read step rows ``rows`` and
        the step-level rows ``(run id, step id)``. A store where each read is a round trip
        (PostgreSQL) reads them all now, at once; others ignore it. Later reads of what
        was fetched, until written, then cost nothing."""
        return None

    @abc.abstractmethod
    async def claim(self, owner: str, limit: int, lease: float) -> list[Claimed]:
        """Lease at most ``limit`` due step rows to ``owner`` for ``lease`` seconds.

        Due rows are `queued` rows whose `available_at` has passed and `waiting` rows whose
        timer (`available_at`) has passed, of runs that are `pending` or `running` (never
        `paused`). Highest run priority first, then earliest `available_at`, except that of
        many due timers a claim considers the ``limit`` earliest whatever their priority
        (their index has none: a timer is late already). The rows come back in that order.
        Each claimed row becomes `running` under the claim's new lease token (paired with
        the row id, it names the lease); a claimed `queued` row starts a new attempt
        (`attempt` + 1, `started_at` now), a resumed `waiting` row goes on with its attempt.
        A `pending` run of a claimed row becomes `running`. Rows already `running` are never
        claimed, even when their lease expired: that lease is reaped (`expired_leases`) and
        the row put back by the engine. No row is ever held by two unexpired leases.

        Inside this transaction: work made ready by its earlier statements is claimable, so
        one commit completes a step and claims the next.
        """

    @abc.abstractmethod
    async def lock_run(self, run_id: str) -> RunRecord | None:
        """Read a run and hold it until the transaction ends (None: no such run)."""

    @abc.abstractmethod
    async def run_steps(self, run_id: str) -> list[StepRow]:
        """Every step row of the run, ordered by id."""

    @abc.abstractmethod
    async def get_step(self, row_id: int) -> StepRow | None:
        """One step row by id."""

    @abc.abstractmethod
    async def step_rows(self, run_id: str, step_ids: Sequence[str]) -> list[StepRow]:
        """The step-level rows (item_index -1) of these steps of the run, in no order."""

    @abc.abstractmethod
    async def step_results(self, run_id: str) -> dict[str, tuple[StepStatus, Any]]:
        """As `Store.step_results`, inside this transaction."""

    @abc.abstractmethod
    async def unfinished_steps(self, run_id: str) -> int:
        """How many step-level rows of the run are not final."""

    @abc.abstractmethod
    async def items(self, run_id: str, step_id: str) -> list[StepRow]:
        """The for_each item rows of a step, by item index."""

    @abc.abstractmethod
    async def item(self, run_id: str, step_id: str, index: int) -> StepRow | None:
        """One for_each item row of a step."""

    @abc.abstractmethod
    async def items_from(self, run_id: str, step_id: str, first: int, count: int) -> list[StepRow]:
        """The for_each item rows of a step from index ``first``, at most ``count``, by index
        (one query for the next items to queue)."""

    @abc.abstractmethod
    async def insert_run(self, run: NewRun) -> RunRecord:
        """Create a `pending` run. Raises `DuplicateRun` when its idempotency key is taken, or
        when a run of its schedule's tick exists (``(workflow, schedule_id, schedule_tick)``
        is unique: however many instances fire a tick, and however often, one run is made)."""

    @abc.abstractmethod
    async def insert_runs(
        self, runs: Sequence[tuple[NewRun, Sequence[NewStep]]]
    ) -> list[tuple[RunRecord, list[StepRow]] | None]:
        """Create `pending` runs with their step rows ((run, its steps)), as `insert_run` and
        `insert_steps` create one, with a statement or two for them all. Per run, in order, its
        record and its rows (in no particular order); or None where `insert_run` would raise
        `DuplicateRun` (its key or tick taken, before or by an earlier run of ``runs``), and
        nothing of that run is written."""

    @abc.abstractmethod
    async def find_run(self, workflow_name: str, idempotency_key: str) -> RunRecord | None:
        """The run of ``workflow_name`` created with ``idempotency_key``, if any."""

    @abc.abstractmethod
    async def find_tick_run(self, workflow_name: str, schedule_id: str, tick: float) -> RunRecord | None:
        """The run of ``workflow_name`` that schedule ``schedule_id`` started for ``tick``, if
        any. There is at most one: `insert_run` refuses a second (`DuplicateRun`)."""

    @abc.abstractmethod
    async def update_run(self, run_id: str, **changes: Unpack[RunChanges]) -> None:
        """Set columns of the run (status, outputs, error, started_at, finished_at, deadline_at;
        another raises `ValueError`). No changes: nothing happens."""

    @abc.abstractmethod
    async def child_runs(self, run_id: str) -> list[RunRecord]:
        """Runs started by `workflow` steps of this run."""

    @abc.abstractmethod
    async def insert_steps(self, run_id: str, steps: Sequence[NewStep]) -> list[StepRow]:
        """Add step rows to a run; return them (in no particular order)."""

    @abc.abstractmethod
    async def update_step(self, row_id: int, **changes: Unpack[StepChanges]) -> None:
        """Set columns of a step row (status, attempt, available_at, state, output, error,
        started_at, finished_at; another raises `ValueError`). Leaving `running` clears the
        lease. No changes: nothing happens."""

    @abc.abstractmethod
    async def delete_items(self, run_id: str, step_id: str) -> None:
        """Remove the for_each item rows of a step (a retried run fans out anew). Signals
        the items took stay taken: they are charged to the step's own row."""

    @abc.abstractmethod
    async def get_workflow(self, name: str, version: int | None = None) -> WorkflowRecord | None:
        """As `Store.get_workflow`, inside this transaction."""

    @abc.abstractmethod
    async def lock_schedule(
        self, workflow: str, schedule_id: str, *, wait: bool = False
    ) -> tuple[ScheduleRow, float] | None:
        """A schedule, held until the transaction ends, and the store's now (the clock its
        times are compared with). None when there is no such schedule, or when another
        transaction holds it: that one is handling it (a fleet fires each tick once). With
        ``wait`` (an operator's action), a held schedule is waited for instead."""

    @abc.abstractmethod
    async def update_schedule(
        self, workflow: str, schedule_id: str, **changes: Unpack[ScheduleFields]
    ) -> None:
        """Set columns of a schedule (`ScheduleFields`; another raises `ValueError`) and its
        ``updated_at``. No changes: nothing happens."""

    @abc.abstractmethod
    async def unfinished_schedule_runs(self, workflow: str, schedule_id: str) -> list[RunRecord]:
        """The runs this schedule started that have not finished, oldest first."""

    @abc.abstractmethod
    async def insert_signal(self, run_id: str, name: str, payload: Any, key: str | None = None) -> int:
        """Keep a signal until a step takes it; return its id. ``key``: the sender's
        idempotency key, unique per run and name (see `signal_taken`)."""

    @abc.abstractmethod
    async def signal_taken(self, run_id: str, name: str, key: str) -> bool | None:
        """Whether the signal ``name`` sent to the run with idempotency key ``key`` was taken
        by a step; None when no such signal was sent."""

    async def take_signal(self, run_id: str, name: str, step: int) -> tuple[bool, Any]:
        """Consume the oldest unconsumed signal ``name`` of the run for step row ``step``.

        Returns ``(True, payload)``, or ``(False, None)`` when none is waiting. A signal is
        consumed at most once.
        """
        taken = await self.take_first_signal(run_id, [name], step)
        return (False, None) if taken is None else (True, taken[1])

    @abc.abstractmethod
    async def take_first_signal(self, run_id: str, names: Sequence[str], step: int) -> tuple[str, Any] | None:
        """Consume, for step row ``step``, the oldest unconsumed signal of the run named any
        of ``names`` (the first of them received): ``(name, payload)``, or None when none of
        them waits. A signal is consumed at most once.
        """

    # -- mutual exclusion: places under keys (a step's mutex or semaphore, a run's
    # concurrency key). A key's changes are serialised fleet-wide: two transactions never
    # both let a place in over the limit. ---------------------------------------------

    @abc.abstractmethod
    async def take_place(self, key: str, limit: int, run_id: str, step: int | None) -> Place:
        """The place under ``key`` of run ``run_id`` (``step`` None) or of its step row
        ``step``. One it already has is returned as it is; else it takes one now: holding
        when none waits and fewer places hold the key than ``limit`` and than each holder's
        own limit, else waiting at the end of the key's line (first come, first let in)."""

    @abc.abstractmethod
    async def leave_places(self, run_id: str, step: int | None) -> list[str]:
        """Give up the places (holding or waiting) of the run (``step`` None: its own, not
        its steps') or of step row ``step``; return the keys they were under. Whoever
        waits behind them is let in by `let_in`, not here."""

    @abc.abstractmethod
    async def let_in(self, key: str) -> list[tuple[str, int | None]]:
        """Let the head of ``key``'s line in, and the next, while fewer places hold the key
        than the limit the head was taken with and than each holder's own (a mutex held
        keeps out a semaphore of the same key); return who was let in, ``(run id, step row
        or None)``, in line order."""

    @abc.abstractmethod
    async def places_under(self, key: str) -> list[Place]:
        """Every place under ``key``: its holders, earliest first, then its line, head first."""

    @abc.abstractmethod
    async def keep_artifacts(self, step: int, token: str) -> None:
        """The uploads of claim ``token`` become step row ``step``'s artifacts; the ones it
        kept before are superseded (a step's artifacts are its last successful attempt's)."""


class DuplicateRun(Exception):
    """`Txn.insert_run` found the idempotency key or the schedule's tick taken (the
    transaction is still usable)."""


PurgeCursor = tuple[float, str]
"""Where `Store.purge_runs` goes on from: the ``(finished_at, id)`` of the last run it looked at."""


class PurgeBatch(NamedTuple):
    """What one page of `Store.purge_runs` did."""

    deleted: int  # runs deleted (with dry_run: that would be)
    cursor: PurgeCursor | None  # where the next page starts; None: nothing left to look at
