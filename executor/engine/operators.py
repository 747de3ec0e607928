"""What an operator does to one step of a run (``POST /runs/{id}/steps/{step}/cancel`` and
``.../retry``, the remote CLI's ``runs cancel-step|retry-step``, the dashboard's step page).

Both are moves of one `RunChange`, so one transaction: the step, what it stops and what
follows from it are committed together or not at all.

- **Cancel** a step that is not final (pending, queued, running, waiting), or one item of a
  for_each step (``item``). A running attempt is stopped (on this instance at once, on
  another when its lease renewal finds the row gone), a `workflow` step's child run is
  cancelled, a for_each step's unfinished items are cancelled with it. Then the run moves
  on: dependents follow their trigger rules (cancelled counts as skipped). A cancelled item
  is final: the for_each step goes on with its other items and, as with a failed item,
  fails once they are done.
- **Retry** a failed, cancelled or skipped step: it and every step that depends on it,
  transitively, go back to pending (their attempt history kept, for_each items dropped)
  and the run moves on from there. A failed run runs again, as a run retry does. A finally
  step runs again for the ending it ran for; a main step is refused while the finally steps
  run (the ending is decided: run again, it could not change it).
"""

from __future__ import annotations

from executor.engine import endings
from executor.engine.transitions import RunChange
from executor.errors import ParameterInvalid, RunStateConflict, StepNotFound
from executor.statuses import RUN_FINAL, RunStatus, StepStatus
from executor.store.records import StepRow

RETRIED = frozenset({StepStatus.FAILED, StepStatus.CANCELLED, StepStatus.SKIPPED})
# A failed run comes back to run a step again; a succeeded or cancelled one is over.
RETRIED_IN = frozenset({RunStatus.PENDING, RunStatus.RUNNING, RunStatus.PAUSED, RunStatus.FAILED})


async def cancel_step(change: RunChange, step_id: str, item: int | None, by: str) -> None:
    """Cancel step ``step_id`` (or its for_each item ``item``) of the run; ``by`` says who
    asked ("API", "dashboard"), for the step's error."""
    run = change.run
    if run.status in RUN_FINAL:
        raise RunStateConflict(f"run {run.id} is {run.status}; its steps no longer change", run.status)
    _known(change, step_id)
    row = await _target(change, step_id, item)
    what = f"step {step_id}" + ("" if item is None else f" item {item}")
    if row.final:
        raise RunStateConflict(f"{what} is already {row.status}", row.status)
    error = f"cancelled by an operator ({by})"
    if item is None:
        await change.halt_step(row, error)
    else:
        await change.halt(row, error)
        await change._items_moved(step_id)
    await change.advance(after=step_id)


async def retry_step(change: RunChange, step_id: str) -> None:
    """Run step ``step_id`` again, with every step that depends on it."""
    run = change.run
    if run.status not in RETRIED_IN:
        raise RunStateConflict(f"run {run.id} is {run.status}; its steps are not retried", run.status)
    _known(change, step_id)
    row = await _step_row(change, step_id)
    if row.status not in RETRIED:
        raise RunStateConflict(
            f"step {step_id} is {row.status}; only a failed, cancelled or skipped step is retried",
            row.status,
        )
    if step_id in change.workflow.finally_ids:
        if run.status == RunStatus.FAILED:
            await endings.revive(change)  # it runs again for the ending it ran for
    elif run.status == RunStatus.FAILED:
        await change.run_again()
    elif await _ending_decided(change):
        raise RunStateConflict(
            f"run {run.id} runs its finally steps: its ending is decided, so its step {step_id} "
            "is not retried while they run (once the run failed, retry the step or the run)",
            run.status,
        )
    # A dependent still going (an `all_done` one, say) is stopped by `reopen` first.
    await change.reopen(downstream(change, step_id))
    await change.advance()


def downstream(change: RunChange, step_id: str) -> list[str]:
    """``step_id`` and every step that depends on it, directly or not (nearest first)."""
    found = [step_id]
    for current in found:  # grows while it is read: a breadth-first walk
        found += [step.id for step in change.workflow.dependents(current) if step.id not in found]
    return found


def _known(change: RunChange, step_id: str) -> None:
    try:
        change.workflow.step(step_id)
    except KeyError:
        raise StepNotFound(f"run {change.run.id} has no step {step_id}") from None


async def _step_row(change: RunChange, step_id: str) -> StepRow:
    """The step's row: a finally step's once the finally steps started for the current
    ending (before, a 409: it has no row yet, or only one of an earlier ending)."""
    if step_id in change.workflow.finally_ids:
        await change.read_steps([step_id])
        if endings.ending(change, step_id) is None:
            raise RunStateConflict(
                f"finally step {step_id} has not started: it runs once every main step is final",
                change.run.status,
            )
    return await change.step_row(step_id)


async def _ending_decided(change: RunChange) -> bool:
    """Whether the run's finally steps run (then its main steps are all final and its
    ending is kept: a main step run again would not change it)."""
    await change.read_steps(sorted(change.workflow.finally_ids))
    return endings.started(change)


async def _target(change: RunChange, step_id: str, item: int | None) -> StepRow:
    """The row to cancel: the step's, or its item ``item``'s (a 422 naming ``item`` when the
    step has no such item)."""
    row = await _step_row(change, step_id)
    if item is None:
        return row
    if change.workflow.step(step_id).for_each is None:
        raise ParameterInvalid("item", f"step {step_id} has no for_each, so no items")
    found = await change.txn.item(change.run.id, step_id, item) if item >= 0 else None
    if found is None:
        count = len(await change.txn.items(change.run.id, step_id))
        have = f"{count} items (0 to {count - 1})" if count else "no items yet"
        raise ParameterInvalid("item", f"step {step_id} has {have}; there is no item {item}")
    return found
