"""The engine: the durable-execution API (register, submit, signal, cancel, read), and the
work source of the claim loop (claim, run, hand back). Lease upkeep is `leases.Leases`.

Guarantee: a step runs at least once, and its completion is recorded exactly once. An
attempt holds a lease (a token); the lease is renewed while the attempt runs; an outcome
is recorded only while the token still holds the row. A lease that expired (the instance
died or stalled) counts as a failed attempt ("executor lost") and is retried if the
step's retry policy allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, Unpack

from loguru import logger

from executor import metrics, tracing
from executor.actions.outcomes import Failed, Outcome, Succeeded
from executor.artifacts import Artifacts, Limits
from executor.engine import batch, exclusion, history, inline, operators
from executor.engine import bulk as bulk_actions
from executor.engine.accounting import AttemptCalls
from executor.engine.batch import Submission, Submitted
from executor.engine.commit import GroupCommit
from executor.engine.events import AttemptEvent, Event, StepEvent
from executor.engine.leases import Leases
from executor.engine.loop import ClaimLoop
from executor.engine.runner import run_attempt
from executor.engine.telemetry import Telemetry
from executor.engine.transitions import ChangeScope, ReplayedIds, RunChange
from executor.errors import ArtifactNotFound, ExecutorError, RunNotFound, StoreConflict, StoreError
from executor.render.renderer import DEFAULT_TIMEOUT, Renderer, RenderPending
from executor.statuses import RunStatus, StepStatus
from executor.store import Store
from executor.store.base import Txn
from executor.store.records import (
    ArtifactRecord,
    Claimed,
    Instance,
    LlmCallRecord,
    LlmTotals,
    Origin,
    Place,
    RunCriteria,
    RunFilter,
    RunRecord,
    StepRow,
    StoredLogLine,
    WorkflowRecord,
    WorkflowVersion,
)
from executor.tracing import AttemptSpan
from executor.workflow import Masker, Workflow
from executor.workflow.expressions import secrets_from_environ

T = TypeVar("T")


class Engine:
    def __init__(
        self,
        store: Store,
        *,
        instance_id: str,
        concurrency: int,
        poll_interval: float,
        lease: float,
        heartbeat_timeout: float = 10.0,
        max_lost_attempts: int = 3,
        render_timeout: float = DEFAULT_TIMEOUT,
        secrets: dict[str, str] | None = None,
        artifacts: Artifacts | None = None,
    ) -> None:
        self.store = store
        self.artifacts = artifacts or Artifacts(store, DEFAULT_LIMITS)
        self.instance_id = instance_id
        self.lease = lease
        self.max_lost_attempts = max_lost_attempts
        self.renderer = Renderer(render_timeout)
        self.secrets = secrets_from_environ() if secrets is None else secrets
        self.masker = Masker(self.secrets)
        self.loop: ClaimLoop[Claimed] = ClaimLoop(self, concurrency=concurrency, poll_interval=poll_interval)
        # Metrics and traces first: every event is counted, whatever a later listener does.
        self.telemetry = Telemetry(store)
        self.listeners: list[Callable[[Event], None]] = [self.telemetry]
        metrics.count_in_flight(self.loop)
        self._lost: set[int] = set()  # rows whose lease renewal found lost (their attempt stops)
        # Rows whose attempt a change stopped here (a cancel): once it has ended, the keys
        # kept for it are given up (`exclusion.released`).
        self._stopped: set[int] = set()
        self._releasing: set[asyncio.Task[None]] = set()
        self._workflows: dict[tuple[str, int], Workflow] = {}
        self._tasks: dict[int, tuple[asyncio.Task[Any], str]] = {}  # row → its attempt: task, token
        self._run_of: dict[int, str] = {}  # the run of each row in `_tasks`
        self.leases = Leases(
            store,
            owner=instance_id,
            lease=lease,
            heartbeat_timeout=heartbeat_timeout,
            lost=self._stop_attempt,
            expire=self._expire_lease,
            time_out=self._time_out,
            release=self._release_kept,
        )
        self.commits = GroupCommit(store, self._scope, self._after, claimer=self)
        # Each open transaction's budget of in-process steps (`inline.Budget`).
        self._budgets: weakref.WeakKeyDictionary[Txn, inline.Budget] = weakref.WeakKeyDictionary()

    @property
    def database_ok(self) -> bool:
        """False while the database does not answer (lease upkeep finds out)."""
        return self.leases.database_ok

    # -- definitions ---------------------------------------------------------------------

    def load_workflow(self, name: str, version: int, definition: dict[str, Any]) -> Workflow:
        """A stored version, parsed once: versions never change once stored."""
        key = (name, version)
        workflow = self._workflows.get(key)
        if workflow is None:
            workflow = self._workflows[key] = Workflow.from_json(definition)
        return workflow

    def _cached_workflow(self, name: str, version: int) -> Workflow | None:
        return self._workflows.get((name, version))

    async def register(self, workflow: Workflow, source: str) -> tuple[WorkflowRecord, bool]:
        record, created = await self.store.register_workflow(
            workflow.name, workflow.digest, source, workflow.to_json()
        )
        if created:
            logger.bind(workflow=record.name, version=record.version).info("registered workflow version")
        return record, created

    # -- changes -------------------------------------------------------------------------

    async def change(
        self,
        body: Callable[[Txn, ChangeScope], Awaitable[T]],
        *,
        key: str = "",
        frees: int = 0,
        rows: Sequence[int] = (),
        steps: Sequence[str] = (),
        settle: Callable[[ChangeScope, T], T] | None = None,
    ) -> T:
        """Run ``body`` in a store transaction, shared with other changes (`GroupCommit`);
        return its result once committed. ``key`` is the run it locks; ``frees`` the claim
        loop slots its commit frees (an attempt's outcome); ``rows`` and ``steps`` what it
        will read of the run (hints); ``settle`` brings its result up to date once the
        in-process steps it made ready have run (a run they finished).

        A change that meets a template still rendering (`RenderPending`) is rolled back and
        run again once the render is done: the transaction, shared by every change of the
        instance, never waits for a render. It creates the same run ids each time."""
        ids = ReplayedIds()
        in_process = True  # off once its in-process steps met a template still rendering
        deferred_pending = False

        async def attempt(txn: Txn, scope: ChangeScope) -> T:
            nonlocal deferred_pending
            scope.new_id = ids.replay()
            scope.inline = scope.inline and in_process
            result = await body(txn, scope)
            budget = self._budgets.setdefault(txn, inline.Budget())  # shared by the group
            try:
                await inline.run_deferred(scope, budget)  # the in-process steps it made ready
            except RenderPending:
                deferred_pending = True
                raise
            return result if settle is None else settle(scope, result)

        while True:
            try:
                result: T = await self.commits.run(attempt, key=key, frees=frees, rows=rows, steps=steps)
                return result
            except RenderPending as pending:
                if deferred_pending:
                    # Met after its own work: it runs again at once, its steps queued (not
                    # run here), so that it is not kept waiting for a later step's template.
                    in_process, deferred_pending = False, False
                    continue
                await pending.wait()

    def _scope(self) -> ChangeScope:
        return ChangeScope(
            self.load_workflow,
            self._cached_workflow,
            self.secrets,
            self.masker,
            self.max_lost_attempts,
            renderer=self.renderer,
            # With tracing on, every attempt goes through the runner, which makes its span.
            inline=not tracing.enabled(),
            instance=self.instance_id,
        )

    def _after(self, scope: ChangeScope) -> None:
        """What a committed change asks for: stop attempts it cancelled, tell listeners."""
        for row_id in scope.settled_rows:
            # No longer ours to renew: released now, not when the attempt's task resumes
            # (a renewal in between would take the finished attempt for a lost lease).
            self.leases.release(row_id)
        for row_id, token in scope.cancelled_rows.items():
            task, running = self._tasks.get(row_id, (None, None))
            # Only the attempt it stopped: the row's next one may have been claimed between
            # the commit and now (by the claim loop, in its own transaction).
            if task is not None and running == token and task is not asyncio.current_task():
                # Stopped on purpose: no renewal is to take it for a lost lease meanwhile.
                self.leases.release(row_id, token)
                self._stopped.add(row_id)
                task.cancel()
        for event in scope.events:
            for listener in self.listeners:
                listener(event)

    async def _on_run(
        self,
        run_id: str,
        act: Callable[[RunChange], Awaitable[T]],
        **hints: Any,
    ) -> T:
        async def body(txn: Txn, scope: ChangeScope) -> T:
            return await act(await RunChange.load(txn, scope, run_id))

        return await self.change(body, key=run_id, **hints)

    # -- the API -------------------------------------------------------------------------

    async def submit(
        self,
        workflow: str,
        run_input: Any = None,
        *,
        version: int | None = None,
        idempotency_key: str | None = None,
        priority: int = 0,
        origin: Origin = Origin(),
    ) -> tuple[RunRecord, bool]:
        """Start a run (committed before this returns); with a used idempotency key, return
        the run it started (False)."""

        async def body(txn: Txn, scope: ChangeScope) -> tuple[RunRecord, bool]:
            return await RunChange.create(
                txn, scope, workflow, {} if run_input is None else run_input,
                version=version, idempotency_key=idempotency_key, priority=priority, origin=origin,
            )  # fmt: skip

        return await self.change(body, settle=lambda scope, made: (scope.latest(made[0]), made[1]))

    async def submit_many(
        self, submissions: Sequence[Submission], *, origin: Origin = Origin()
    ) -> list[Submitted]:
        """Start runs in one transaction (committed before this returns): per submission,
        what `submit` gives, or the error that refused it alone (`batch.create_all`)."""

        def settle(scope: ChangeScope, answers: list[Submitted]) -> list[Submitted]:
            return [a if isinstance(a, ExecutorError) else (scope.latest(a[0]), a[1]) for a in answers]

        return await self.change(
            lambda txn, scope: batch.create_all(txn, scope, submissions, origin), settle=settle
        )

    async def signal(self, run_id: str, name: str, payload: Any = None, *, key: str | None = None) -> bool:
        """Send a signal (once per idempotency ``key``); True when a step took it."""
        return await self._on_run(run_id, lambda change: change.signal(name, payload, key))

    async def cancel(self, run_id: str) -> None:
        await self._on_run(run_id, lambda change: change.cancel())

    async def pause(self, run_id: str) -> None:
        await self._on_run(run_id, lambda change: change.pause())

    async def resume(self, run_id: str) -> None:
        await self._on_run(run_id, lambda change: change.resume())

    async def retry(self, run_id: str) -> None:
        await self._on_run(run_id, lambda change: change.retry())

    async def cancel_step(
        self, run_id: str, step_id: str, item: int | None = None, *, by: str = "API"
    ) -> None:
        """Cancel one step of a run, or one of its for_each items (`operators.cancel_step`)."""
        await self._on_run(run_id, lambda change: operators.cancel_step(change, step_id, item, by))

    async def retry_step(self, run_id: str, step_id: str) -> None:
        """Run a failed, cancelled or skipped step again, and what depends on it."""
        await self._on_run(run_id, lambda change: operators.retry_step(change, step_id))

    def trigger(self) -> None:
        """Look for due work now instead of at the next poll (a timer moved, a row changed
        by hand)."""
        self.loop.wake()

    # -- reads (outside any transaction) -------------------------------------------------

    async def get(self, run_id: str) -> tuple[RunRecord, list[StepRow]]:
        found = await self.store.get_run(run_id)
        if found is None:
            raise RunNotFound(f"no run {run_id}")
        return found

    async def list_artifacts(self, run_id: str) -> list[ArtifactRecord]:
        """The run's kept artifacts (`RunNotFound` for an unknown run)."""
        listed = await self.store.list_artifacts(run_id)
        if not listed:
            await self.get(run_id)
        return listed

    async def artifacts_of(self, run: RunRecord) -> list[ArtifactRecord]:
        """`list_artifacts` of a run the caller has read already: no second read of it when
        it has none (the dashboard's live part, polled every few seconds)."""
        return await self.store.list_artifacts(run.id)

    async def artifact(self, run_id: str, step_id: str, item: int | None, name: str) -> ArtifactRecord:
        """One kept artifact: of the step, or of item ``item`` of a for_each step."""
        found = await self.store.get_artifact(run_id, step_id, -1 if item is None else item, name)
        if found is None:
            await self.get(run_id)
            where = f"step {step_id}" + (f" item {item}" if item is not None else "")
            raise ArtifactNotFound(f"run {run_id} has no artifact {name!r} of {where}")
        return found

    async def list_runs(
        self,
        filter: RunFilter | None = None,
        /,
        *,
        before: tuple[float, str] | None = None,
        limit: int = 50,
        **criteria: Unpack[RunCriteria],
    ) -> list[RunRecord]:
        """Runs newest first, as `Store.list_runs` pages them: those ``filter`` selects, or
        the ``criteria`` (its fields as keywords) do."""
        return await self.store.list_runs(_filter(filter, criteria), before=before, limit=limit)

    async def count_runs(self, filter: RunFilter | None = None, /, **criteria: Unpack[RunCriteria]) -> int:
        """How many runs ``filter`` (or the ``criteria``) selects (`Store.count_runs`)."""
        return await self.store.count_runs(_filter(filter, criteria))

    async def run_counts(self) -> dict[str, dict[RunStatus, int]]:
        """``{workflow: {status: runs}}`` of every run kept (`Store.run_counts`)."""
        return await self.store.run_counts()

    async def bulk(
        self, action: bulk_actions.Action, wanted: RunFilter, *, dry_run: bool = False
    ) -> bulk_actions.BulkResult:
        """Cancel or retry every run ``wanted`` selects that the action applies to, created
        before now (`executor.engine.bulk`); with ``dry_run``, count them."""
        act = self.cancel if action == "cancel" else self.retry
        return await bulk_actions.bulk(self.store, act, action, wanted, dry_run=dry_run)

    async def get_workflow(self, name: str, version: int | None = None) -> WorkflowRecord | None:
        """One stored version (the latest when ``version`` is None)."""
        return await self.store.get_workflow(name, version)

    async def list_workflows(self) -> list[WorkflowRecord]:
        """The latest version of every workflow, by name."""
        return await self.store.list_workflows()

    async def list_workflow_versions(self, name: str) -> list[WorkflowVersion]:
        """Every version of workflow ``name``, newest first (empty: no such workflow)."""
        return await self.store.list_workflow_versions(name)

    async def instances(self) -> list[tuple[Instance, int]]:
        """Every registered instance, oldest first, with the steps it runs now."""
        found = await self.store.list_instances()
        in_flight = await self.store.steps_in_flight()
        return [(instance, in_flight.get(instance.id, 0)) for instance in found]

    async def places(self, run: RunRecord) -> tuple[list[Place], dict[str, list[Place]]]:
        """The run's places under keys, its steps' included (`Store.run_places`), and the
        holders of each key it waits for: what it holds and what it waits for, and behind whom.
        A run of a workflow without keys has none: no query (pages poll this)."""
        workflow = self._cached_workflow(run.workflow_name, run.workflow_version)
        if workflow is None:
            record = await self.store.get_workflow(run.workflow_name, run.workflow_version)
            assert record is not None, "a run's workflow version is never deleted"
            workflow = self.load_workflow(record.name, record.version, record.definition)
        if not workflow.takes_keys:
            return [], {}
        places = await self.store.run_places(run.id)
        waited = sorted({place.key for place in places if not place.holding})
        holders = {key: [p for p in await self.store.places_under(key) if p.holding] for key in waited}
        return places, holders

    async def llm_totals(self, run_id: str) -> LlmTotals:
        """What the run's calls to models add up to (`Store.run_llm_totals`)."""
        return await self.store.run_llm_totals(run_id)

    async def llm_calls(self, run_id: str, after: int = 0, limit: int = 1000) -> list[LlmCallRecord]:
        """The run's calls to models with id > ``after``, oldest first (`RunNotFound` for an
        unknown run)."""
        listed = await self.store.list_llm_calls(run_id, after=after, limit=limit)
        if not listed:
            await self.get(run_id)
        return listed

    async def read_logs(self, row_id: int, after: int = 0, limit: int = 1000) -> list[StoredLogLine]:
        """Log lines of step row ``row_id`` after line id ``after``, oldest first."""
        return await self.store.read_logs(row_id, after=after, limit=limit)

    async def step_counts(self) -> dict[str, int]:
        """Steps ``ready`` and ``running`` across every instance (`Store.step_counts`)."""
        return await self.store.step_counts()

    # -- the claim loop's work source ----------------------------------------------------

    async def claim(self, limit: int) -> Sequence[Claimed]:
        async def body(txn: Txn, scope: ChangeScope) -> Sequence[Claimed]:
            return await self.claim_in(txn, limit)

        claimed: Sequence[Claimed] = await self.change(body)
        self._took(claimed)
        return claimed

    # -- what the group commit claims for the loop (`commit.Claimer`) --------------------

    @property
    def claiming(self) -> bool:
        return self.loop.claiming

    def free_slots(self) -> int:
        return self.loop.free_slots()

    async def claim_in(self, txn: Txn, limit: int) -> Sequence[Claimed]:
        return await txn.claim(self.instance_id, limit, self.lease)

    def reserve(self, count: int) -> None:
        self.loop.reserve(count)

    def unreserve(self, count: int) -> None:
        self.loop.unreserve(count)

    def adopt(self, items: Sequence[Claimed], *, exhausted: bool, reserved: int) -> None:
        self._took(items)
        self.loop.adopt(items, exhausted=exhausted, reserved=reserved)

    def wake(self) -> None:
        self.loop.wake()

    def _took(self, claimed: Sequence[Claimed]) -> None:
        for item in claimed:
            self.leases.hold(item)
            row = item.row
            waited = None
            if row.available_at is not None and row.lease_expires_at is not None:
                # Both on the database's clock: the claim set the expiry to its time + the lease.
                waited = row.lease_expires_at - self.lease - row.available_at
            event = StepEvent(
                row.run_id, row.step_id, row.item_index, StepStatus.RUNNING, row.attempt, waited=waited
            )
            for listener in self.listeners:
                listener(event)

    async def next_due(self) -> float | None:
        return await self.store.next_due()

    async def run(self, claimed: Claimed) -> None:
        row = claimed.row
        task = asyncio.current_task()
        assert task is not None
        self._tasks[row.id] = (task, claimed.token)
        self._run_of[row.id] = row.run_id
        started = time.monotonic()
        took: tuple[float, float] | None = None  # seconds the action ran, and when it ended
        action, ended, error = "", "cancelled", None
        span: AttemptSpan | None = None
        calls = AttemptCalls(claimed, self.masker, self.listeners)
        try:
            workflow = await self._workflow(claimed)
            action = workflow.step(row.step_id).action
            span = await self.telemetry.start_attempt(claimed, action)
            try:
                outcome = await run_attempt(
                    self.store,
                    workflow,
                    claimed,
                    self.secrets,
                    self.masker,
                    self.instance_id,
                    self.renderer,
                    self.artifacts,
                    report_llm=calls.report,
                )
            except ExecutorError:
                raise
            except Exception as exc:  # a bug in an action must not leave the step hanging
                logger.bind(run_id=row.run_id, step=row.step_id).opt(exception=exc).error("step crashed")
                outcome = Failed(f"internal error: {type(exc).__name__}: {exc}")
            took = (time.monotonic() - started, time.time())
            name, error = _outcome(outcome)
            # Its calls to models first, whatever becomes of its outcome: they were paid for.
            await asyncio.shield(calls.record(self.store, self._patience))
            # Shielded: an attempt that finished is recorded even if shutdown cancels us now.
            recorded = await asyncio.shield(self._record(claimed, outcome))
            ended = name if recorded else "lost"
            if not recorded and isinstance(outcome, Succeeded) and outcome.artifacts is not None:
                await self.artifacts.discard(row.id, claimed.token)  # else the sweep does
        except asyncio.CancelledError:
            raise
        except BaseException:
            ended = "error"
            raise
        finally:
            calls.record_soon(self.store, self._patience)  # those of an attempt cut short
            # The row's next attempt may have started here already (a change that stopped
            # this one queued the step again and the same group claimed it): leave it be.
            if self._tasks.get(row.id, (None,))[0] is task:
                del self._tasks[row.id]
                self._run_of.pop(row.id, None)
            self.leases.release(row.id, claimed.token)
            stopped = row.id in self._stopped or row.id in self._lost or ended == "lost"
            self._stopped.discard(row.id)
            if row.id in self._lost:
                self._lost.discard(row.id)
                ended = "lost"
            if stopped:
                self._ended_stopped(claimed)
            seconds, ended_at = took or (time.monotonic() - started, None)
            self._attempt_ended(claimed, action, ended, error, span, seconds, ended_at)

    def _attempt_ended(
        self,
        claimed: Claimed,
        action: str,
        outcome: str,
        error: str | None,
        span: AttemptSpan | None,
        seconds: float,
        ended_at: float | None,
    ) -> None:
        """Tell metrics and traces: the action ran ``seconds`` and ended at ``ended_at`` (None:
        it never came to an outcome)."""
        if span is not None:
            # The span ends when the action did, not once its outcome was recorded (and the
            # steps after it started).
            span.end(outcome, error, at=ended_at)
        if not action:  # it never started: its workflow could not be read
            return
        row = claimed.row
        event = AttemptEvent(row.run_id, row.step_id, row.item_index, row.attempt, action, outcome, seconds)
        for listener in self.listeners:
            listener(event)

    async def _workflow(self, claimed: Claimed) -> Workflow:
        workflow = self._cached_workflow(claimed.workflow_name, claimed.workflow_version)
        if workflow is None:
            record = await self.store.get_workflow(claimed.workflow_name, claimed.workflow_version)
            assert record is not None, "a run's workflow version is never deleted"
            workflow = self.load_workflow(record.name, record.version, record.definition)
        return workflow

    @property
    def _patience(self) -> float:
        """How long a write at the end of an attempt keeps trying while the database is away."""
        return max(2 * self.lease, 60.0)

    async def _record(self, claimed: Claimed, outcome: Outcome, *, lost: str | None = None) -> bool:
        """Record the outcome (False: rejected, its lease was lost). While the database is
        away, keep trying for a while: the attempt finished, and running it again is only the
        last resort (the lease runs out and the step is retried elsewhere; this late outcome
        is then fenced off)."""
        deadline = time.monotonic() + self._patience
        delay = 0.2
        while True:
            try:
                return await self._record_once(claimed, outcome, lost=lost)
            except StoreConflict:
                raise
            except StoreError as exc:
                if time.monotonic() > deadline:
                    raise
                row = claimed.row
                logger.bind(run_id=row.run_id, step=row.step_id, row=row.id).warning(
                    "cannot record the outcome of the step yet: {}", exc.message
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _record_once(self, claimed: Claimed, outcome: Outcome, *, lost: str | None) -> bool:
        async def act(change: RunChange) -> bool:
            row = await change.holds(claimed.row.id, claimed.token)
            if row is None:
                log = logger.bind(run_id=claimed.row.run_id, step=claimed.row.step_id)
                if history.was_lost(await change.row(claimed.row.id), claimed.row.attempt):
                    log.warning("outcome of a lost lease rejected (the step was reclaimed)")
                else:
                    log.info("outcome of a stopped attempt dropped (the step was cancelled or reopened)")
                return False
            change.scope.settled_rows.add(row.id)
            await change.complete(row, outcome, lost=lost)
            if (
                isinstance(outcome, Succeeded)
                and outcome.artifacts is not None
                and change.rows[row.id].status != StepStatus.FAILED  # its `outputs` failed
            ):
                await change.txn.keep_artifacts(row.id, claimed.token)
            return True

        row = claimed.row
        workflow = self._cached_workflow(claimed.workflow_name, claimed.workflow_version)
        # What completing it reads: its row, and its dependents with their needs.
        steps = {row.step_id}
        for dependent in workflow.dependents(row.step_id) if workflow is not None else ():
            steps.add(dependent.id)
            steps.update(dependent.needs)
        return await self._on_run(row.run_id, act, frees=1, rows=[row.id], steps=sorted(steps))

    async def hand_back(self, items: Sequence[Claimed], *, started: bool) -> None:
        """Give claimed attempts back to the queue. Attempts a drain cut short (``started``)
        end `lost` (reason ``drain``) in their history, but for steps that said ``on_lost:
        fail``: those fail. Attempts that never started get their attempt number back."""
        back: list[Claimed] = []
        for item in items:
            if (
                started
                and not item.resumed
                and (await self._workflow(item)).step(item.row.step_id).on_lost == "fail"
            ):
                error = "executor lost: the attempt was cut short by a drain (on_lost: fail)"
                await self._record(item, Failed(error, retryable=False), lost=history.DRAIN)
            else:
                back.append(item)
        count = await self.store.hand_back(back, started=[item.row.id for item in back] if started else ())
        for item in items:
            self.leases.release(item.row.id, item.token)
        if count:
            logger.info("handed back {} step(s) to the queue", count)

    def _ended_stopped(self, claimed: Claimed) -> None:
        """An attempt stopped by a change (a cancel, a lost lease, a rejected outcome) has
        ended, its command gone: give up the keys kept for it (`exclusion.released`), in a
        task of its own (the attempt's may be cancelled again). The last attempt of its run
        on this instance does it, so that a run's key outlasts each of them here; the lease
        upkeep's sweep is the fallback if this instance dies first."""
        row = claimed.row
        workflow = self._cached_workflow(claimed.workflow_name, claimed.workflow_version)
        if (workflow is not None and not workflow.takes_keys) or row.run_id in self._run_of.values():
            return  # no key to give up, or another attempt of the run here gives it up

        async def release() -> None:
            with contextlib.suppress(ExecutorError):
                await self._on_run(row.run_id, lambda change: exclusion.released(change, row.id, row.attempt))

        task = asyncio.create_task(release())
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    # -- what lease upkeep reaps (`leases.Leases`) ---------------------------------------

    def _stop_attempt(self, row_id: int) -> None:
        task, _ = self._tasks.get(row_id, (None, None))
        if task is not None:
            self._lost.add(row_id)  # its attempt ends `lost`, not `cancelled`
            task.cancel()

    async def _expire_lease(self, run_id: str, row_id: int, token: str) -> None:
        with contextlib.suppress(RunNotFound):
            await self._on_run(run_id, lambda change: change.lease_expired(row_id, token))

    async def _time_out(self, run_id: str) -> None:
        with contextlib.suppress(RunNotFound):
            await self._on_run(run_id, lambda change: change.time_out())

    async def _release_kept(self, run_id: str, step: int | None) -> None:
        with contextlib.suppress(RunNotFound):
            await self._on_run(run_id, lambda change: exclusion.release_kept(change, step))


# An engine built without settings (tests, tools): the settings' defaults.
DEFAULT_LIMITS = Limits(file=1 << 30, run=10 << 30)


def _filter(given: RunFilter | None, criteria: RunCriteria) -> RunFilter:
    if given is not None and criteria:
        raise TypeError("give a RunFilter or its fields as keywords, not both")
    return RunFilter(**criteria) if criteria else given or RunFilter()


def _outcome(outcome: Outcome) -> tuple[str, str | None]:
    """An attempt's outcome as metrics and traces name it, and its error."""
    if isinstance(outcome, Succeeded):
        return "succeeded", None
    if isinstance(outcome, Failed):
        return "failed", outcome.error
    return "suspended", None
