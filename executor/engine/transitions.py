"""How a run moves, decided inside one store transaction per change.

A `RunChange` holds one run under the run's lock. Everything that moves a run
happens through it: completing an attempt, deciding which dependents become ready or are
skipped, fanning out for_each items, finishing the run (and the parent step waiting for
it), cancelling, pausing, resuming, retrying. The store commits all of it at once, so a
crash leaves either the state before the change or the state after it, never half.

A change reads only the rows its decision needs (the row that finished, its dependents
and their needs; counts where counts do): its cost follows what changed, not the size of
the run, so a 2,000-step chain or a 5,000-item for_each stays linear.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Unpack

from executor.actions.outcomes import CancelRegion, ChildRun, EndRun, Failed, Outcome, Succeeded, Suspend
from executor.engine import (
    cycles,
    endings,
    exclusion,
    fanout,
    history,
    inline,
    joins,
    retries,
    signal_items,
    states,
)
from executor.engine.events import Event, InLine, RetryEvent, RunEvent, StepEvent
from executor.errors import ExecutorError, RunNotFound, RunStateConflict, WorkflowNotFound
from executor.render.renderer import Renderer
from executor.statuses import RUN_FINAL, STEP_FINAL, RunStatus, StepStatus
from executor.store.base import DuplicateRun, Txn
from executor.store.records import (
    NewRun,
    NewStep,
    Origin,
    RunChanges,
    RunFields,
    RunRecord,
    StepChanges,
    StepFields,
    StepRow,
)
from executor.tracing import run_trace
from executor.workflow import Masker, Step, Workflow, apply_input, build_context, foreach
from executor.workflow.expressions import is_true
from executor.workflow.schedules import template_context

MAX_ITEMS = foreach.MAX_ITEMS
LEASE_EXPIRED = "lease expired"
MAX_DEPTH = 32  # child runs nested deeper than this fail: a recursion that never ends
SMALL_RUN = 50  # steps; see _finish_if_done


@dataclass
class ChangeScope:
    """One change's surroundings in a group transaction: what its decisions need beyond
    the rows (definitions, secrets), and what it asks for once committed (events for the
    listeners, attempts to stop, attempts settled, a wake-up of the claim loop)."""

    load_workflow: Callable[[str, int, dict[str, Any]], Workflow]
    cached_workflow: Callable[[str, int], Workflow | None]
    secrets: dict[str, str]
    masker: Masker
    # A step whose attempts are lost this many times in a row fails (the poison-step brake).
    max_lost_attempts: int = 3
    # Renders `when`, `for_each` and `outputs`; one still rendering raises `RenderPending`
    # (the engine runs the change again once it is rendered, outside the transaction).
    renderer: Renderer = field(default_factory=Renderer)
    # Ids of the runs this change creates: `ReplayedIds` gives a change that runs again the
    # same ones, so that a template reading `run.id` renders the same.
    new_id: Callable[[], str] = field(default=lambda: str(uuid.uuid4()))
    events: list[Event] = field(default_factory=list)
    # Rows whose running attempt this change stopped, each with that attempt's lease token
    # (the row's next attempt may start before the stop reaches this one).
    cancelled_rows: dict[int, str | None] = field(default_factory=dict)
    settled_rows: set[int] = field(default_factory=set)  # attempts whose outcome this recorded
    # (run id, step id) of the steps whose running attempts this change stopped: their
    # commands still run a while, so their keys are kept until they end (`exclusion`).
    stopped_steps: set[tuple[str, str]] = field(default_factory=set)
    queued: bool = False  # something became claimable: wake the claim loop after commit
    # In-process steps run in the transaction that makes them ready (`inline`): on for the
    # engine's changes; ``instance`` is the one whose history entries they get.
    inline: bool = False
    instance: str = ""
    # Steps made ready by this change that it runs once its body is done (`inline.run_deferred`).
    deferred: deque[tuple[RunChange, int]] = field(default_factory=deque)
    # The runs this change holds, each through one `RunChange`: a run reached twice (a child
    # run that ends and completes its parent's step) sees its own decisions.
    holding: dict[str, RunChange] = field(default_factory=dict)

    def latest(self, run: RunRecord) -> RunRecord:
        """``run`` as this change left it (its in-process steps may have finished it)."""
        held = self.holding.get(run.id)
        return run if held is None else held.run


class ReplayedIds:
    """The ids of new runs for one change: new ones the first time it runs, the same ones,
    in the same order, each time it runs again (see `ChangeScope.new_id`)."""

    def __init__(self) -> None:
        self._ids: list[str] = []

    def replay(self) -> Callable[[], str]:
        given = 0

        def new_id() -> str:
            nonlocal given
            if given == len(self._ids):
                self._ids.append(str(uuid.uuid4()))
            given += 1
            return self._ids[given - 1]

        return new_id


class RunChange:
    """One run's rows inside a transaction, and the moves allowed on them."""

    def __init__(self, txn: Txn, scope: ChangeScope, run: RunRecord, workflow: Workflow) -> None:
        self.txn = txn
        self.scope = scope
        self.run = run
        self.workflow = workflow
        # The rows read so far (and as this change wrote them): the transaction holds the
        # run, so they stay true until it ends.
        self.rows: dict[int, StepRow] = {}
        self.step_level: dict[str, StepRow] = {}  # step id → its step-level row (item_index -1)
        self.items: dict[tuple[str, int], StepRow] = {}  # (step id, index) → a for_each item's row
        self._all_read = False
        # Steps this change left not final: while there is one, the run is not done.
        self._open: set[str] = set()
        # Columns of rows that an in-process attempt changed in memory only: written with the
        # row's next update (`inline`), which records its outcome.
        self.unwritten: dict[int, StepFields] = {}
        scope.holding[run.id] = self

    @classmethod
    async def load(cls, txn: Txn, scope: ChangeScope, run_id: str) -> RunChange:
        held = scope.holding.get(run_id)
        if held is not None and held.txn is txn:
            return held
        run = await txn.lock_run(run_id)
        if run is None:
            raise RunNotFound(f"no run {run_id}")
        workflow = scope.cached_workflow(run.workflow_name, run.workflow_version)
        if workflow is None:
            record = await txn.get_workflow(run.workflow_name, run.workflow_version)
            assert record is not None, "a run's workflow version is never deleted"
            workflow = scope.load_workflow(record.name, record.version, record.definition)
        return cls(txn, scope, run, workflow)

    # -- reads ---------------------------------------------------------------------------

    async def read_all(self) -> None:
        """Read every row of the run (for moves that look at all of them)."""
        if not self._all_read:
            for row in await self.txn.run_steps(self.run.id):
                self._keep(row)
            self._all_read = True

    async def row(self, row_id: int) -> StepRow | None:
        if row_id not in self.rows and not self._all_read:
            row = await self.txn.get_step(row_id)
            if row is not None and row.run_id == self.run.id:
                self._keep(row)
        return self.rows.get(row_id)

    async def step_row(self, step_id: str) -> StepRow:
        if step_id not in self.step_level:
            await self.read_steps([step_id])
        return self.step_level[step_id]

    async def read_steps(self, step_ids: list[str]) -> None:
        """Read the step-level rows of these steps (those not read yet), in one query."""
        missing = [step_id for step_id in step_ids if step_id not in self.step_level]
        if missing and not self._all_read:
            for row in await self.txn.step_rows(self.run.id, missing):
                self._keep(row)

    async def context(self, **extra: Any) -> dict[str, Any]:
        results: dict[str, tuple[StepStatus, Any]]
        if self._all_read:
            results = {row.step_id: (row.status, row.output) for row in self.step_level.values()}
        else:
            results = await self.txn.step_results(self.run.id)
        steps = {
            step_id: {"status": status, "output": output} for step_id, (status, output) in results.items()
        }
        return build_context(
            inputs=self.run.input,
            steps=steps,
            run_id=self.run.id,
            workflow=self.run.workflow_name,
            secrets=self.scope.secrets,
            schedule=template_context(
                self.workflow.schedule(self.run.schedule_id), self.run.schedule_id, self.run.schedule_tick
            ),
            **extra,
        )

    async def _render(self, value: Any, where: str, step: Step | None = None, **extra: Any) -> Any:
        """``value`` rendered in the run's context (a template that needs a render worker
        gets the step's ``timeout``, else the renderer's; see `RenderPending`)."""
        timeout = None if step is None else step.timeout
        if step is not None and step.id in self.workflow.finally_ids:
            await self.read_steps([step.id])
            extra.setdefault("ending", endings.ending(self, step.id))
        context = await self.context(**extra)
        return await self.scope.renderer.render(
            value, context, where=where, timeout=timeout, in_transaction=True
        )

    def _effective(self, row: StepRow) -> StepStatus | None:
        """A need's state as trigger rules see it (None while not final)."""
        if not row.final:
            return None
        if row.status == StepStatus.FAILED and self.workflow.step(row.step_id).continue_on_error:
            return StepStatus.SUCCEEDED
        return StepStatus.SKIPPED if row.status == StepStatus.CANCELLED else row.status

    # -- writes --------------------------------------------------------------------------

    async def set_step(
        self,
        row: StepRow,
        status: StepStatus,
        *,
        waiting_for: InLine | None = None,
        **fields: Unpack[StepFields],
    ) -> StepRow:
        """Change a step row (``waiting_for``: the place in a key's line it now waits in,
        for the listeners)."""
        states.check_step(row.status, status)
        changes: StepChanges = {**self.unwritten.pop(row.id, {}), **fields, "status": status}
        if status in STEP_FINAL:
            changes.setdefault("finished_at", time.time())
        error = changes.get("error")
        if error is not None:
            changes["error"] = self.scope.masker.mask(error)
        await self.txn.update_step(row.id, **changes)
        if status == StepStatus.RUNNING:
            updated = row.replace(**changes)
        else:  # as the store did: leaving `running` ends the lease
            updated = row.replace(**changes, lease_owner=None, lease_token=None, lease_expires_at=None)
        self._keep(updated)
        if row.status == StepStatus.RUNNING and updated.final and row.id not in self.scope.settled_rows:
            self.scope.stopped_steps.add((self.run.id, row.step_id))  # its attempt still runs
        if status == StepStatus.QUEUED:
            self.scope.queued = True
        if row.item_index == -1:
            if updated.final:
                self._open.discard(row.step_id)
            else:
                self._open.add(row.step_id)
        self.scope.events.append(
            StepEvent(
                self.run.id,
                row.step_id,
                row.item_index,
                status,
                row.attempt,
                updated.error,
                waiting_for=waiting_for,
            )
        )
        if updated.final and row.item_index == -1 and self.workflow.step(row.step_id).semaphore:
            await exclusion.step_final(self, updated)  # its key goes to the next in line
        return updated

    def defer(self, row: StepRow) -> None:
        """Run the pending ``row`` in process once this change's body is done (`inline`)."""
        self.scope.deferred.append((self, row.id))
        if row.item_index == -1:
            self._open.add(row.step_id)  # not final yet: the run is not done

    def forget(self, row: StepRow) -> None:
        """Drop a deleted item row from what this change has read."""
        del self.rows[row.id]
        self.items.pop((row.step_id, row.item_index), None)

    def _keep(self, row: StepRow) -> None:
        self.rows[row.id] = row
        if row.item_index == -1:
            self.step_level[row.step_id] = row
        else:
            self.items[(row.step_id, row.item_index)] = row

    async def set_run(self, status: RunStatus, **fields: Unpack[RunFields]) -> None:
        states.check_run(self.run.status, status)
        changes: RunChanges = {**fields, "status": status}
        if status in RUN_FINAL:
            changes.setdefault("finished_at", time.time())
        await self.txn.update_run(self.run.id, **changes)
        self.run = dataclasses.replace(self.run, **changes)
        self.scope.events.append(RunEvent.of(self.run))
        if status in RUN_FINAL:
            await exclusion.run_final(self)  # its concurrency key goes to the next in line

    # -- creating a run ------------------------------------------------------------------

    @classmethod
    async def create(
        cls,
        txn: Txn,
        scope: ChangeScope,
        workflow_name: str,
        run_input: Any,
        *,
        version: int | None = None,
        idempotency_key: str | None = None,
        priority: int = 0,
        parent: tuple[RunRecord, StepRow] | None = None,
        origin: Origin = Origin(),
    ) -> tuple[RunRecord, bool]:
        """Create a run with its step rows and queue its first steps; or, for an idempotency
        key already used with this workflow, or a schedule's tick already run, return that
        run (False: nothing created)."""
        if idempotency_key is not None:
            existing = await txn.find_run(workflow_name, idempotency_key)
            if existing is not None:
                return existing, False
        new, workflow = await cls.prepare(
            txn, scope, workflow_name, run_input,
            version=version, idempotency_key=idempotency_key, priority=priority, parent=parent, origin=origin,
        )  # fmt: skip
        try:
            run = await txn.insert_run(new)
        except DuplicateRun:
            return await cls.winner(txn, new), False
        rows = await txn.insert_steps(run.id, [NewStep(step_id=step.id) for step in workflow.steps])
        return await cls.start(txn, scope, run, workflow, rows), True

    @classmethod
    async def prepare(
        cls,
        txn: Txn,
        scope: ChangeScope,
        workflow_name: str,
        run_input: Any,
        *,
        version: int | None = None,
        idempotency_key: str | None = None,
        priority: int = 0,
        parent: tuple[RunRecord, StepRow] | None = None,
        origin: Origin = Origin(),
    ) -> tuple[NewRun, Workflow]:
        """The run `create` inserts, and its workflow: `WorkflowNotFound` or `InputInvalid`
        (nothing written) when it cannot be."""
        record = await txn.get_workflow(workflow_name, version)
        if record is None:
            what = f"{workflow_name} version {version}" if version is not None else workflow_name
            raise WorkflowNotFound(f"no workflow {what}")
        workflow = scope.load_workflow(record.name, record.version, record.definition)
        checked_input = apply_input(workflow.inputs, run_input)
        now = time.time()
        new = NewRun(
            id=scope.new_id(),
            workflow_name=record.name,
            workflow_version=record.version,
            input=checked_input,
            idempotency_key=idempotency_key,
            priority=priority,
            parent_run_id=parent[0].id if parent else None,
            parent_step=parent[1].id if parent else None,
            deadline_at=now + workflow.timeout if workflow.timeout else None,
            trigger="parent" if parent else origin.trigger,
            schedule_id=origin.schedule_id,
            schedule_tick=origin.schedule_tick,
            # A child run's span is a child of its parent run's (`tracing.run_trace`).
            traceparent=str(run_trace(parent[0].id, parent[0].traceparent).traceparent)
            if parent
            else origin.traceparent,
        )
        return new, workflow

    @staticmethod
    async def winner(txn: Txn, new: NewRun) -> RunRecord:
        """The run that kept ``new`` from being inserted (`DuplicateRun`): a concurrent request
        with the same key, or another instance firing the same tick, won the race."""
        if new.idempotency_key is not None:
            existing = await txn.find_run(new.workflow_name, new.idempotency_key)
        else:
            assert new.schedule_id is not None and new.schedule_tick is not None
            existing = await txn.find_tick_run(new.workflow_name, new.schedule_id, new.schedule_tick)
        assert existing is not None
        return existing

    @classmethod
    async def start(
        cls, txn: Txn, scope: ChangeScope, run: RunRecord, workflow: Workflow, rows: Iterable[StepRow]
    ) -> RunRecord:
        """Queue the first steps of ``run``, just inserted with ``rows`` (all its step rows)."""
        scope.events.append(RunEvent.of(run, created=True))
        change = cls(txn, scope, run, workflow)
        for row in rows:
            change._keep(row)
        change._all_read = True  # a new run's rows are all the ones just inserted
        await exclusion.admit_new(change)  # its concurrency key: wait, skip or cancel_running
        await change.advance()
        return change.run

    # -- deciding ------------------------------------------------------------------------

    async def advance(self, after: str | None = None) -> None:
        """Start every pending step whose needs allow it, skip those that never can, and
        finish the run when every step is final.

        With ``after`` (a step that just became final) only its dependents are looked at,
        and theirs when they are skipped in turn: work in proportion to what changed, not
        to the size of the workflow.
        """
        if self.run.status in RUN_FINAL:
            return
        if after is None and not await exclusion.admitted(self):
            return  # it waits in line for its concurrency key: no step starts
        if after is None:
            await self.read_all()
            candidates = [step.id for step in self.workflow.steps] + endings.started_ids(self)
        else:
            candidates = [step.id for step in self.workflow.dependents(after)]
        seen: set[str] = set()
        while candidates:
            step_id = candidates.pop(0)
            if step_id in seen:
                continue
            step = self.workflow.step(step_id)
            await self.read_steps([step_id, *step.needs])
            row = self.step_level[step_id]
            if row.status != StepStatus.PENDING:
                continue
            needs = [(need, self._effective(self.step_level[need])) for need in step.needs]
            decision, reason = states.trigger(step.trigger_rule, needs)
            if decision == "wait":
                continue
            seen.add(step_id)
            if decision == "skip":
                await self.set_step(row, StepStatus.SKIPPED, error=reason)
            else:
                await self._start(row)
                await joins.started(self, step)  # cancel_remaining: cancel the needs still going
            if self.step_level[step_id].final:
                candidates.extend(dep.id for dep in self.workflow.dependents(step_id))
        await self._finish_if_done()

    async def _start(self, row: StepRow) -> None:
        step = self.workflow.step(row.step_id)
        try:
            if step.when is not None and not is_true(await self._render(step.when, "when", step)):
                await self.set_step(row, StepStatus.SKIPPED, error="when was false")
                return
            if await exclusion.wait_turn(self, row, step):
                return  # its mutex or semaphore is held: it waits in line, `waiting`
            if signal_items.source(step) is not None:  # its items arrive as signals
                await signal_items.start(self, row, step)
                return
            if step.for_each is None:
                # Only from pending: one let in by its key (`waiting`) is queued, as
                # `run_deferred` runs pending rows only (it would stay `waiting` for good).
                if inline.runs_inline(self.scope, step) and row.status == StepStatus.PENDING:
                    self.defer(row)
                else:
                    await self.set_step(row, StepStatus.QUEUED, available_at=time.time())
                return
            # A list, or a matrix's combinations (`foreach.expand`): ForEachError if neither.
            items = foreach.expand(await self._render(step.for_each, "for_each", step), MAX_ITEMS)
        except ExecutorError as exc:
            await self.set_step(row, StepStatus.FAILED, error=exc.message)
            return
        if not items:
            await self.set_step(row, StepStatus.SUCCEEDED, output=[], started_at=time.time())
            return
        limit = step.concurrency or len(items)
        now = time.time()
        # In-process items start as pending and run once this change's body is done.
        in_process = inline.runs_inline(self.scope, step)
        queued = (lambda index: False) if in_process else (lambda index: index < limit)
        inserted = await self.txn.insert_steps(
            self.run.id,
            [
                NewStep(
                    step_id=step.id,
                    item_index=index,
                    status=StepStatus.QUEUED if queued(index) else StepStatus.PENDING,
                    available_at=now if queued(index) else None,
                    state={**endings.inherited(row), "item": item},
                )
                for index, item in enumerate(items)
            ],
        )
        for item_row in inserted:
            self._keep(item_row)
        if in_process:
            for index in range(min(limit, len(items))):
                self.defer(self.items[(step.id, index)])
        else:
            self.scope.queued = True
        # `next`: the first item not queued yet; `done`: items final. Counted here so that an
        # item's completion costs the same with 5 items or 5,000.
        state = {**endings.inherited(row), "items": len(items), "next": min(limit, len(items)), "done": 0}
        await self.set_step(row, StepStatus.RUNNING, started_at=now, state=state)

    async def _items_moved(self, step_id: str, item_status: StepStatus | None = None) -> None:
        """After an item became final (``item_status``, if known): queue the next one, or
        finish the for_each step (early with `fanout`: fail_fast, min_success)."""
        parent = await self.step_row(step_id)
        state = dict(parent.state)
        state["done"] += 1
        if await fanout.ended_early(self, parent, state, item_status):
            return
        if state["next"] < state["items"]:
            in_process = inline.runs_inline(self.scope, self.workflow.step(step_id))
            item = self.items.get((step_id, state["next"]))
            if item is None:
                # In process, the items after it follow in this change: read them at once.
                ahead = inline.BUDGET if in_process else 1
                for read in await self.txn.items_from(self.run.id, step_id, state["next"], ahead):
                    if read.id not in self.rows:
                        self._keep(read)
                item = self.items.get((step_id, state["next"]))
            assert item is not None and item.status == StepStatus.PENDING, "items are queued in order"
            if in_process:
                self._keep(item)
                self.defer(item)
            else:
                await self.set_step(item, StepStatus.QUEUED, available_at=time.time())
            state["next"] += 1
        if state["done"] < state["items"] or signal_items.collecting(state):
            await self.txn.update_step(parent.id, state=state)
            self._keep(parent.replace(state=state))
            self._open.add(step_id)
            return
        await self.finish_items(parent, state)

    async def finish_items(self, parent: StepRow, state: dict[str, Any]) -> None:
        """Every item of a for_each step is final: the step fails or succeeds with them."""
        step_id = parent.step_id
        items = await self.txn.items(self.run.id, step_id)
        failed = [item for item in items if item.status != StepStatus.SUCCEEDED]
        if failed:
            first = failed[0]
            error = f"item {first.item_index} {first.status}: {first.error or ''}".rstrip(": ")
            await self.set_step(parent, StepStatus.FAILED, error=error, state=state)
        else:
            await self.set_step(
                parent, StepStatus.SUCCEEDED, output=[item.output for item in items], state=state
            )

    async def _finish_if_done(self) -> None:
        # A paused run's steps finish and are recorded; the run itself finishes on resume.
        if self.run.status in RUN_FINAL or self.run.status == RunStatus.PAUSED or self._open:
            return
        # A small run is read whole at once; a large one is counted first (a 2,000-step
        # chain must not read 2,000 rows per step to learn that it is not done).
        small = len(self.workflow.steps) <= SMALL_RUN
        # Finally rows stay pending until the main steps are done: they do not count here.
        waiting = len(self.workflow.finally_)
        if not (self._all_read or small) and await self.txn.unfinished_steps(self.run.id) > waiting:
            return
        await self.read_all()
        await endings.settle(self)  # succeed or fail, or run the finally steps first

    async def finish(self, status: RunStatus, *, error: str | None = None, outputs: Any = None) -> None:
        """End the run; cancel what is left of it; tell a parent step that waits for it."""
        if self.run.status == RunStatus.PENDING and status != RunStatus.CANCELLED:
            await self.set_run(RunStatus.RUNNING, started_at=time.time())
        error = None if error is None else self.scope.masker.mask(error)
        await self.set_run(status, error=error, outputs=outputs)
        await self._cancel_rest()
        if self.run.parent_run_id is not None and self.run.parent_step is not None:
            parent = await RunChange.load(self.txn, self.scope, self.run.parent_run_id)
            row = await parent.row(self.run.parent_step)
            if row is not None and row.status == StepStatus.WAITING:
                if status == RunStatus.SUCCEEDED:
                    await parent.complete(row, Succeeded(outputs))
                else:
                    await parent.complete(
                        row, Failed(f"child run {self.run.id} {status}: {error or ''}".rstrip(": "))
                    )

    async def _cancel_rest(self, keep: frozenset[str] = frozenset()) -> None:
        """Cancel every row not final (but those of the steps in ``keep``) and the child
        runs still going."""
        await self.read_all()
        for row in list(self.rows.values()):
            if not row.final and row.step_id not in keep:
                if row.status == StepStatus.RUNNING:
                    self.scope.cancelled_rows[row.id] = row.lease_token
                await self.set_step(row, StepStatus.CANCELLED)
        children = self.workflow.starts_children and await self.txn.child_runs(self.run.id)
        for child in children or ():
            if child.status not in RUN_FINAL:
                await self._cancel_child(child.id, f"parent run {self.run.id} ended")

    async def _cancel_child(self, child_id: str, error: str) -> None:
        """Cancel child run ``child_id`` unless it has ended, and all of it that still runs."""
        child = await RunChange.load(self.txn, self.scope, child_id)
        if child.run.status not in RUN_FINAL:
            await child.set_run(RunStatus.CANCELLED, error=error)
            await child._cancel_rest()

    # -- attempts ------------------------------------------------------------------------

    async def holds(self, row_id: int, token: str) -> StepRow | None:
        """The row if this attempt still holds it: a late outcome from a lost lease is fenced."""
        row = await self.row(row_id)
        if row is None or row.status != StepStatus.RUNNING or row.lease_token != token:
            return None
        return row

    async def complete(self, row: StepRow, outcome: Outcome, *, lost: str | None = None) -> None:
        """Record an attempt's outcome (or a signal's, or a child run's), then move on.

        An attempt that ran (its row `running`) ends in the step's history; ``lost`` (the
        reason) records it as lost rather than by its outcome, for a lost attempt that fails
        its step (``on_lost: fail``, the poison-step brake).
        """
        if self.run.status == RunStatus.PENDING:
            await self.set_run(RunStatus.RUNNING, started_at=time.time())
        step = self.workflow.step(row.step_id)
        asked = outcome if isinstance(outcome, EndRun | CancelRegion) else None  # terminate, cancel
        if isinstance(outcome, Succeeded):
            outcome = await self._shape(row, outcome)
        if isinstance(outcome, Succeeded) and (step.repeat or step.goto):
            settled = await cycles.settle(self, row, outcome)
            if settled is None:  # its next iteration is queued, or the run was sent back
                return
            outcome = settled
        ran = cycles.ends_attempt(step, row)
        if isinstance(outcome, Succeeded):
            done: StepFields = {"output": self.scope.masker.mask(outcome.output), "error": None}
            if ran:
                done["history"] = history.ended(row, "succeeded", time.time())
            await self.set_step(row, StepStatus.SUCCEEDED, **done)
        elif isinstance(outcome, Failed):
            failed: StepFields = {"error": outcome.error}
            if outcome.output is not None:
                failed["output"] = self.scope.masker.mask(outcome.output)
            if ran and lost is not None:
                failed["history"] = history.ended(row, "lost", time.time(), reason=lost)
            elif ran:
                error = self.scope.masker.mask(outcome.error)
                failed["history"] = history.ended(row, "failed", time.time(), error=error)
            delay, why_not = await retries.next_delay(self, row, step, outcome, history.spent(row))
            if why_not is not None:
                failed["error"] = f"{outcome.error}; {why_not}"
            if delay is not None:
                failed["available_at"] = time.time() + delay
                await self.set_step(row, StepStatus.QUEUED, **failed)
                self.scope.events.append(
                    RetryEvent(self.run.id, row.step_id, row.item_index, row.attempt, delay, outcome.error)
                )
                return
            await self.set_step(row, StepStatus.FAILED, **failed)
        else:
            await self.suspend(row, outcome)
            return
        if row.item_index >= 0:
            await self._items_moved(row.step_id, self.rows[row.id].status)
        if asked is not None and self.rows[row.id].status == StepStatus.SUCCEEDED:
            await endings.follow(self, row, asked)  # ends the run, or cancels steps and advances
            return
        await self.advance(after=row.step_id)

    async def _shape(self, row: StepRow, outcome: Succeeded) -> Outcome:
        """Apply the step's `outputs` to an action's result, however the result arrived
        (the action's return, a signal, a child run)."""
        step = self.workflow.step(row.step_id)
        if step.outputs is None:
            return outcome
        extra: dict[str, Any] = {"result": outcome.output, **cycles.names(step, row)}
        if row.item_index >= 0:
            extra.update(item=(row.state or {}).get("item"), index=row.item_index)
        try:
            return Succeeded(await self._render(step.outputs, "outputs", step, **extra))
        except ExecutorError as exc:  # names the output: "outputs.n: {{ ... }}: reason"
            return Failed(exc.message, retryable=False)

    async def suspend(self, row: StepRow, suspend: Suspend) -> None:
        if suspend.signal is not None:
            taken = await self.txn.take_first_signal(self.run.id, signal_items.names(suspend.signal), row.id)
            if taken is not None:
                await self.complete(row, Succeeded(signal_items.output(suspend.signal, *taken)))
                return
        # Merged: a for_each item keeps its `item` while it waits.
        state = {**(row.state or {}), **suspend.state}
        row = await self.set_step(row, StepStatus.WAITING, available_at=suspend.wake_at, state=state)
        if suspend.child is not None:
            await self._start_child(row, suspend.child)

    async def _start_child(self, row: StepRow, child: ChildRun) -> None:
        depth = await self._depth()
        if depth >= MAX_DEPTH:
            await self.complete(row, Failed(f"child runs nested more than {MAX_DEPTH} deep", retryable=False))
            return
        try:
            run, _ = await RunChange.create(
                self.txn,
                self.scope,
                child.workflow,
                child.input,
                version=child.version,
                parent=(self.run, row),
            )
        except ExecutorError as exc:
            await self.complete(
                row, Failed(f"cannot start child workflow {child.workflow}: {exc.message}", retryable=False)
            )
            return
        current = self.rows[row.id]
        if current.status == StepStatus.WAITING:
            state = {**(current.state or {}), "child_run_id": run.id}
            await self.txn.update_step(row.id, state=state)
            self._keep(current.replace(state=state))

    async def _depth(self) -> int:
        depth, run = 0, self.run
        while run.parent_run_id is not None and depth < MAX_DEPTH:
            parent = await self.txn.lock_run(run.parent_run_id)
            if parent is None:
                break
            depth, run = depth + 1, parent
        return depth

    # -- commands ------------------------------------------------------------------------

    async def signal(self, name: str, payload: Any, key: str | None = None) -> bool:
        """Keep the signal; deliver it to a step waiting for it (`signal_items.deliver`).
        True when one took it. A signal sent again with its idempotency ``key`` is not kept
        again: the answer is the first one's (taken by now or not), even once the run ended."""
        if key is not None:
            taken = await self.txn.signal_taken(self.run.id, name, key)
            if taken is not None:
                return taken
        if self.run.status in RUN_FINAL:
            raise RunStateConflict(
                f"run {self.run.id} is {self.run.status}; it takes no signals", self.run.status
            )
        await self.txn.insert_signal(self.run.id, name, payload, key)
        return await signal_items.deliver(self, name)

    async def cancel(self) -> None:
        if self.run.status in RUN_FINAL:
            raise RunStateConflict(f"run {self.run.id} is already {self.run.status}", self.run.status)
        await endings.cancel(self)  # its finally steps run first, unless they already do

    async def pause(self) -> None:
        if self.run.status not in (RunStatus.PENDING, RunStatus.RUNNING):
            raise RunStateConflict(
                f"run {self.run.id} is {self.run.status}; only a running run pauses", self.run.status
            )
        await self.set_run(RunStatus.PAUSED)

    async def resume(self) -> None:
        if self.run.status != RunStatus.PAUSED:
            raise RunStateConflict(f"run {self.run.id} is {self.run.status}, not paused", self.run.status)
        await self.set_run(RunStatus.RUNNING if self.run.started_at else RunStatus.PENDING)
        self.scope.queued = True
        await self.advance()  # steps that finished while paused may have ended the run

    async def retry(self) -> None:
        if self.run.status != RunStatus.FAILED:
            raise RunStateConflict(
                f"run {self.run.id} is {self.run.status}; only a failed run is retried", self.run.status
            )
        await self.read_all()
        # The finally steps are not reopened here: they run again, all of them, once the
        # main steps have a new ending (`endings.forget`).
        unfinished = [
            r.step_id
            for r in self.step_level.values()
            if r.status != StepStatus.SUCCEEDED and r.step_id not in self.workflow.finally_ids
        ]
        await self.reopen(unfinished, keep_history=False)
        await self.run_again()
        await self.advance()

    async def run_again(self) -> None:
        """A failed run runs again (its retry, or a retry of one of its steps): its deadline
        starts over, it waits in line while its concurrency key is taken (`pending`), and its
        finally steps will run again for its new ending."""
        deadline = time.time() + self.workflow.timeout if self.workflow.timeout else None
        await self.set_run(
            await exclusion.comeback(self), error=None, outputs=None, finished_at=None, deadline_at=deadline
        )
        await endings.forget(self)

    async def reopen(
        self, step_ids: Iterable[str], *, keep_history: bool = True, restart_gotos: Iterable[str] = ()
    ) -> None:
        """Send the steps ``step_ids`` (whatever their status) back to `pending`, to start
        again, `when` and `for_each` rendered anew, once the run advances.

        Only the rows change: the caller advances the run afterwards (`advance()`), and
        reopens the run itself first if it had ended. Each step loses its output, error,
        times and for_each items (deleted). What still runs of it is stopped first: a
        running attempt is cancelled (its late outcome is fenced by its lease token) and a
        child run it waits for is cancelled with it.

        With ``keep_history`` (a `goto`, an operator's step retry) the restart is a new
        iteration (`cycles.reopened`): the history stays, attempt numbers go on, the retry
        budget is fresh and the step's `goto` jumps stay counted, except for the steps in
        ``restart_gotos`` (gotos nested in the region a goto sends the run back over). Without
        (`retry` of a failed run) the step starts over as if it had never run.
        """
        wanted, restart = set(step_ids), set(restart_gotos)
        await self.read_all()
        for item in [r for r in self.rows.values() if r.item_index >= 0 and r.step_id in wanted]:
            if not item.final:
                await self.halt(item, "reopened")
            self.forget(item)  # deleted below with their step's items
        for row in [r for r in self.step_level.values() if r.step_id in wanted]:
            await self.txn.delete_items(self.run.id, row.step_id)
            if not row.final:
                row = await self.halt(row, "reopened")
            cleared: StepFields = {
                "error": None, "output": None, "started_at": None, "finished_at": None, "available_at": None,
            }  # fmt: skip
            if keep_history:
                cleared["state"] = cycles.reopened(row, keep_jumps=row.step_id not in restart)
            else:
                cleared.update({"attempt": 0, "state": None, "history": None})
            await self.set_step(row, StepStatus.PENDING, **cleared)

    async def halt(self, row: StepRow, error: str) -> StepRow:
        """Cancel one row that is not final: its running attempt is stopped (a late outcome
        is fenced: the row no longer runs) and the child run it waits for is cancelled."""
        if row.status == StepStatus.RUNNING:
            self.scope.cancelled_rows[row.id] = row.lease_token
        child_id = (row.state or {}).get("child_run_id") if row.status == StepStatus.WAITING else None
        halted = await self.set_step(row, StepStatus.CANCELLED, error=error)
        if isinstance(child_id, str):
            await self._cancel_child(child_id, f"step {row.step_id} of run {self.run.id}: {error}")
        return halted

    async def cancel_steps(self, step_ids: Iterable[str], error: str) -> None:
        """`halt_step` each of ``step_ids`` not final yet, then move the run on from each
        one cancelled (its dependents follow their trigger rules)."""
        cancelled = []
        for step_id in step_ids:
            row = await self.step_row(step_id)
            if not row.final:
                await self.halt_step(row, error)
                cancelled.append(step_id)
        for step_id in cancelled:
            await self.advance(after=step_id)

    async def halt_step(self, row: StepRow, error: str) -> StepRow:
        """`halt` a step-level row unless final, and its for_each items not final yet."""
        if row.final:
            return row
        if row.status != StepStatus.PENDING:  # a pending step has no items yet
            for item in await self.txn.items(self.run.id, row.step_id):
                if not item.final:
                    await self.halt(item, error)
        return await self.halt(row, error)

    async def time_out(self) -> None:
        if self.run.status in RUN_FINAL or self.workflow.timeout is None:
            return
        await endings.time_out(self, self.workflow.timeout)

    async def lease_expired(self, row_id: int, token: str) -> None:
        """The attempt holding ``row_id`` with ``token`` is lost: its instance died, hung or
        lost the database long enough for its lease to run out.

        A lost attempt is not the step's failure: it ends `lost` in the history and the step
        is queued again at once (a suspended one waits again, due now), spending no attempt
        of its retry policy. Two exceptions fail the step instead: ``on_lost: fail`` (its
        side effect must never run twice), and the poison-step brake, a step lost
        ``max_lost_attempts`` times in a row (it may be what takes its executors down).
        """
        row = await self.holds(row_id, token)
        if row is None:
            return
        self.scope.cancelled_rows[row_id] = token
        # Settled here: its instance is taken for dead, and a key it held is not kept for it.
        self.scope.settled_rows.add(row_id)
        step = self.workflow.step(row.step_id)
        owner = row.lease_owner or "an instance"
        if step.on_lost == "fail":
            error = f"executor lost: {owner} stopped renewing the lease of this attempt (on_lost: fail)"
            await self.complete(row, Failed(error, retryable=False), lost=LEASE_EXPIRED)
            return
        lost = history.ended(row, "lost", time.time(), reason=LEASE_EXPIRED)
        streak = history.lost_in_a_row(lost)
        limit = self.scope.max_lost_attempts
        if len(streak) >= limit:
            instances = ", ".join(dict.fromkeys(str(entry["instance"]) for entry in streak))
            error = (
                f"the step lost its executor {len(streak)} times in a row (instances: {instances}); "
                f"it may be crashing or hanging the instances that run it, so it is not run again "
                f"(--max-lost-attempts {limit})"
            )
            await self.complete(row, Failed(error, retryable=False), lost=LEASE_EXPIRED)
            return
        # It had suspended before (its state holds more than its item and counters): resume it.
        if set(row.state or {}) - {"item", endings.KEY, history.LOOP}:
            await self.set_step(row, StepStatus.WAITING, available_at=time.time(), history=lost)
        elif not await exclusion.lost(self, row, lost):  # its key goes to the next in line
            await self.set_step(row, StepStatus.QUEUED, available_at=time.time(), history=lost)
