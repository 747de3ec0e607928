"""How a run ends: `terminate` and `cancel` steps, `finally` steps, outputs of failed runs.

The main steps of a run (`Workflow.steps`) end in one of four ways: all of them final (the
run succeeds, or fails when one failed), a `terminate` step, an operator's cancel, or the
run's `timeout`. Each comes to `end` with an ending (a status and an error), which renders
the run's outputs and then either finishes the run or, when the workflow has `finally`
steps, cancels what still runs of the main steps and starts those instead. The ending is
kept in the state of every finally row (``run``: what their templates see as
``run.status`` and ``run.error``); the run stays `running` until they are all final and
then finishes with it. A failing finally step fails a run that was about to succeed; a
run about to fail or be cancelled keeps its own ending and error.

While finally steps run, the ending is decided: a `terminate` among them, or an operator's
cancel, ends the run at once (the finally steps are cancelled), and the run's deadline no
longer applies (each finally step has its own `timeout`).

A run cancelled or timed out while it waits in line for its `concurrency` key ends at once:
none of its steps started, so its finally steps have nothing to clean up (and could not
start before the key's holders end). A retried run's finally steps run again for its new
ending (`forget`); an operator's retry of one finally step, or a `goto` among them, runs it
again for the same ending (the ending stays in its state: `cycles.reopened`).

A failed or cancelled run's outputs are rendered one by one: those that render are its
outputs, each one that does not is a line of its error ("outputs.x: ...: reason").
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from executor.actions.outcomes import CancelRegion, EndRun
from executor.engine import exclusion
from executor.errors import ExecutorError
from executor.statuses import RunStatus, StepStatus
from executor.store.records import NewStep, StepRow

if TYPE_CHECKING:
    from executor.engine.transitions import RunChange

KEY = "run"  # a finally row's state key for the ending
# The columns a finally row starts again with, when a run comes back to them (a retry).
AFRESH: dict[str, Any] = {
    "attempt": 0,
    "error": None,
    "output": None,
    "history": None,
    "started_at": None,
    "finished_at": None,
    "available_at": None,
}


async def follow(change: RunChange, row: StepRow, outcome: EndRun | CancelRegion) -> None:
    """After a `terminate` or `cancel` step succeeded: do what it asked."""
    if isinstance(outcome, CancelRegion):
        await cancel_region(change, row.step_id, outcome.steps)
        return
    error = f"terminated by step {row.step_id}" + (f": {outcome.message}" if outcome.message else "")
    await end(change, RunStatus(outcome.status), error)


async def cancel_region(change: RunChange, by: str, steps: tuple[str, ...]) -> None:
    """Cancel ``steps`` (those not final yet), then let their dependents follow their
    trigger rules (cancelled counts as skipped)."""
    await change.cancel_steps(steps, f"cancelled by step {by}")
    await change.advance(after=by)


# -- ending the main steps -------------------------------------------------------------


async def settle(change: RunChange) -> None:
    """With every row read: end the run if its main steps (or its finally steps) are done."""
    rows = change.step_level
    if not all(rows[step.id].final for step in change.workflow.steps):
        return
    if started(change):
        if all(rows[step.id].final for step in change.workflow.finally_ if step.id in rows):
            await _finish_after_finally(change)
        return
    failed = [
        rows[step.id]
        for step in change.workflow.steps
        if rows[step.id].status == StepStatus.FAILED and not step.continue_on_error
    ]
    if failed:
        error = f"step {failed[0].step_id} failed: {failed[0].error or ''}".rstrip(": ")
        await end(change, RunStatus.FAILED, error)
    else:
        await end(change, RunStatus.SUCCEEDED, None)


async def end(change: RunChange, status: RunStatus, error: str | None) -> None:
    """The main steps are over, or cut short, with this ending: cancel what still runs,
    render the outputs, and finish the run or start its finally steps."""
    await change.read_all()
    # A run still in line for its concurrency key started no step: nothing to clean up, and
    # its finally steps could not start before the key's holders end.
    hard = not change.workflow.finally_ or started(change) or not await exclusion.admitted(change)
    await change._cancel_rest(keep=frozenset() if hard else change.workflow.finally_ids)
    outputs, status, error = await _outputs(change, status, error)
    if hard:
        await change.finish(status, error=error, outputs=outputs)
    else:
        await _start_finally(change, status, error, outputs)


async def cancel(change: RunChange) -> None:
    """An operator's cancel: the finally steps run, unless they already do (then it is a
    hard cancel: they are cancelled too)."""
    await end(change, RunStatus.CANCELLED, "cancelled")


async def time_out(change: RunChange, timeout: float) -> None:
    await change.read_all()
    if not started(change):  # a deadline no longer applies to the finally steps
        await end(change, RunStatus.FAILED, f"run timed out (timeout {timeout:g}s)")


async def _outputs(
    change: RunChange, status: RunStatus, error: str | None
) -> tuple[Any, RunStatus, str | None]:
    """The run's outputs for this ending, and the ending (outputs that do not render fail
    a run that would succeed). Each output is rendered on its own: a failed run still says
    what it knows, and each output it cannot give is a line of its error."""
    declared = change.workflow.outputs
    if declared is None:
        return None, status, error
    outputs: dict[str, Any] = {}
    problems: list[str] = []
    for name, value in declared.items():
        try:
            outputs.update(await change._render({name: value}, "outputs"))
        except ExecutorError as exc:  # names the output: "outputs.version: {{ ... }}: reason"
            problems.append(exc.message)
    if problems:
        status = RunStatus.FAILED if status == RunStatus.SUCCEEDED else status
        error = "\n".join([*([error] if error else []), *problems])
    return change.scope.masker.mask(outputs), status, error


# -- finally steps ---------------------------------------------------------------------


def started(change: RunChange) -> bool:
    """Whether the finally steps run (or ran) for the current ending (rows read)."""
    return any(KEY in (_row_state(change, step_id)) for step_id in change.workflow.finally_ids)


def started_ids(change: RunChange) -> list[str]:
    """The finally steps `advance` looks at: all of them once started, else none."""
    return [step.id for step in change.workflow.finally_] if started(change) else []


def ending(change: RunChange, step_id: str) -> dict[str, Any] | None:
    """What finally step ``step_id`` sees as ``run.status`` and ``run.error``."""
    return _row_state(change, step_id).get(KEY) if step_id in change.workflow.finally_ids else None


def inherited(row: StepRow) -> dict[str, Any]:
    """What a finally step's for_each items (and its own state once it fans out) keep."""
    state = row.state or {}
    return {KEY: state[KEY]} if KEY in state else {}


def _row_state(change: RunChange, step_id: str) -> dict[str, Any]:
    row = change.step_level.get(step_id)
    return (row.state or {}) if row is not None else {}


async def _start_finally(change: RunChange, status: RunStatus, error: str | None, outputs: Any) -> None:
    error = None if error is None else change.scope.masker.mask(error)
    state = {KEY: {"status": str(status), "error": error}}
    if change.run.status in (RunStatus.PENDING, RunStatus.PAUSED):
        # A paused (or never started) run that is cancelled or times out still runs them.
        await change.set_run(RunStatus.RUNNING, started_at=change.run.started_at or time.time())
    await change.set_run(RunStatus.RUNNING, error=error, outputs=outputs, deadline_at=None)
    new = []
    for step in change.workflow.finally_:
        row = change.step_level.get(step.id)
        if row is None:
            new.append(NewStep(step_id=step.id, state=state))
            continue
        await change.txn.delete_items(change.run.id, step.id)  # a retried run's earlier round
        for item in [r for r in change.rows.values() if r.step_id == step.id and r.item_index >= 0]:
            change.forget(item)
        await change.set_step(row, StepStatus.PENDING, state=state, **AFRESH)
    for row in await change.txn.insert_steps(change.run.id, new):
        change._keep(row)
    await change.advance()


def _kept(change: RunChange) -> dict[str, Any]:
    """The ending the finally steps run for (they have started)."""
    first = next(step.id for step in change.workflow.finally_ if KEY in _row_state(change, step.id))
    kept: dict[str, Any] = _row_state(change, first)[KEY]
    return kept


async def revive(change: RunChange) -> None:
    """A run that failed comes back to run one of its finally steps again (an operator's
    step retry): for the ending they ran for, which the run shows again while they run
    (its `timeout` does not apply to them)."""
    await change.read_steps(sorted(change.workflow.finally_ids))
    status = await exclusion.comeback(change)
    await change.set_run(status, error=_kept(change)["error"], finished_at=None, deadline_at=None)


async def _finish_after_finally(change: RunChange) -> None:
    kept = _kept(change)
    status, error = RunStatus(kept["status"]), kept["error"]
    if status == RunStatus.SUCCEEDED:
        failed = [
            change.step_level[step.id]
            for step in change.workflow.finally_
            if change.step_level[step.id].status == StepStatus.FAILED and not step.continue_on_error
        ]
        if failed:
            status = RunStatus.FAILED
            error = f"finally step {failed[0].step_id} failed: {failed[0].error or ''}".rstrip(": ")
    await change.finish(status, error=error, outputs=change.run.outputs)


async def forget(change: RunChange) -> None:
    """A finished run runs again (a retry): its finally steps will run for its new ending."""
    if not change.workflow.finally_:
        return
    await change.read_all()
    for step_id in change.workflow.finally_ids:
        row = change.step_level.get(step_id)
        if row is not None and KEY in (row.state or {}):
            state = {key: value for key, value in row.state.items() if key != KEY}
            await change.txn.update_step(row.id, state=state or None)
            change._keep(row.replace(state=state or None))
