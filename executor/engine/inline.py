"""In-process steps, run inside the transaction that makes them ready.

A `noop` step without templates in ``with`` does nothing outside the database: its result
is its ``output`` parameter. Claiming it (a lease, a task, a transaction of its own to
record the outcome) costs far more than the step. So when such a step becomes ready, the
change that made it ready runs it: its row goes from pending to its outcome in that
transaction, with what an attempt claimed by the loop leaves (attempt number, timestamps,
an entry in its history naming this instance) and the same events (queued, running, the
outcome; the attempt for metrics). Its dependents are decided in the same change, so a
chain of such steps runs in one transaction, and a run of them ends in the transaction
that submitted it. Nothing is acknowledged before that transaction commits: a crash loses
the whole change, never part of it.

Deferred, not recursive: a step made ready is appended to the change's scope
(`RunChange.defer`), and the change runs those in order once its body is done
(`run_deferred`, called by `Engine.change`), at most `BUDGET` per run and change, and
`TRANSACTION_BUDGET` in all per transaction: the changes of a group share it (`Budget`;
with one per change, 400 submissions in one group ran 200,000 steps in one transaction and
held SQLite's lock for a minute, long enough for other steps' leases to run out). The rest
are queued as usual and claimed, so no transaction holds a run for long (a 2,000-step chain
is claimed every `BUDGET` steps), a batch of 1,000 runs runs them all, and the stack stays
flat.

Not in process: steps with templates in ``with`` (the runner renders them), `repeat` and
`goto` (their iterations are queued), any step while tracing is on (the runner makes each
attempt's span), and steps of a paused run (they wait for its resume).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from executor.actions.outcomes import Succeeded
from executor.engine.events import AttemptEvent, StepEvent
from executor.statuses import RUN_FINAL, RunStatus, StepStatus
from executor.workflow import Step

if TYPE_CHECKING:
    from executor.engine.transitions import ChangeScope, RunChange
    from executor.store.records import StepRow

IN_PROCESS = frozenset({"noop"})
BUDGET = 500  # steps of one run that one change runs in process; the rest are claimed
TRANSACTION_BUDGET = 10_000  # steps one transaction runs in process, all its changes together


class Budget:
    """The in-process steps a transaction may still run, shared by its changes."""

    def __init__(self) -> None:
        self.left = TRANSACTION_BUDGET


def runs_inline(scope: ChangeScope, step: Step) -> bool:
    """Whether ``step`` runs in the change that makes it ready."""
    return (
        scope.inline
        and step.action in IN_PROCESS
        and not step.templated
        and step.repeat is None
        and step.goto is None
    )


async def run_deferred(scope: ChangeScope, budget: Budget) -> None:
    """Run the steps the change made ready in process, in order, and those they make ready in
    turn, up to `BUDGET` per run and what is left of the transaction's ``budget``; queue the
    rest to be claimed."""
    ran: dict[str, int] = {}  # by run
    while scope.deferred:
        change, row_id = scope.deferred.popleft()
        row = change.rows[row_id]
        if row.status != StepStatus.PENDING or change.run.status in RUN_FINAL:
            continue  # decided otherwise meanwhile: cancelled, skipped
        run_id = change.run.id
        if ran.get(run_id, 0) >= BUDGET or budget.left <= 0 or change.run.status == RunStatus.PAUSED:
            await change.set_step(row, StepStatus.QUEUED, available_at=time.time())
            continue
        ran[run_id] = ran.get(run_id, 0) + 1
        budget.left -= 1
        await _attempt(change, row)


async def _read_ahead(change: RunChange, step: Step) -> None:
    """Read the rows that what follows ``step`` will look at, up to `BUDGET` steps down, in
    one query: not one query per step down a chain (a round trip each on PostgreSQL)."""
    workflow = change.workflow
    if all(dependent.id in change.step_level for dependent in workflow.dependents(step.id)):
        return
    wanted: list[str] = []
    frontier, seen = [step.id], {step.id}
    while frontier and len(wanted) < BUDGET:
        for dependent in workflow.dependents(frontier.pop()):
            if dependent.id not in seen:
                seen.add(dependent.id)
                frontier.append(dependent.id)
                wanted += [dependent.id, *dependent.needs]
    await change.read_steps(wanted)


async def _attempt(change: RunChange, row: StepRow) -> None:
    step = change.workflow.step(row.step_id)
    await _read_ahead(change, step)
    scope, now = change.scope, time.time()
    attempt = row.attempt + 1
    # Claimed in memory only: the columns a claim writes go with the outcome's update.
    change.unwritten[row.id] = {"attempt": attempt, "available_at": now, "started_at": now}
    running = row.replace(
        status=StepStatus.RUNNING,
        attempt=attempt,
        available_at=now,
        started_at=now,
        lease_owner=scope.instance,
    )
    change._keep(running)
    scope.settled_rows.add(row.id)  # its outcome is recorded here: no attempt left running
    scope.events += [
        StepEvent(row.run_id, row.step_id, row.item_index, StepStatus.QUEUED, row.attempt),
        # Not claimed: no claim wait to count (`waited` is for claims).
        StepEvent(row.run_id, row.step_id, row.item_index, StepStatus.RUNNING, attempt),
    ]
    await change.complete(running, Succeeded(step.with_.get("output")))
    assert row.id not in change.unwritten, "an in-process attempt's outcome is written with its claim"
    ended = change.rows[row.id].status  # failed only when its `outputs` did not render
    outcome = "succeeded" if ended == StepStatus.SUCCEEDED else "failed"
    scope.events.append(
        AttemptEvent(
            row.run_id, row.step_id, row.item_index, attempt, step.action, outcome, time.time() - now
        )
    )
