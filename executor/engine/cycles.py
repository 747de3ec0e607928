"""Steps that run more than once in a run: `repeat` loops and `goto` back-transitions.

A step row keeps its iteration in ``state["loop"]`` (`history.LOOP`), beside whatever its
action suspended with, so that retries, lost leases and restarts keep it:

    {"iteration": 3,   # 0-based: how often the row started anew (repeat, goto, reopen)
     "base": 7,        # attempts spent by earlier iterations (each has its own retry budget)
     "index": 2,       # the `repeat` iteration (templates' loop.index); 0 when absent
     "previous": ...,  # the previous repeat iteration's output (loop.previous)
     "jumps": 1}       # the `goto` jumps this step has taken

Attempt numbers go on across iterations (logs and history stay per attempt); the history
entries carry their ``iteration`` (`history.ended`). Every decision here is made inside
the `RunChange` that records the attempt's success, so a crash leaves the step before the
iteration ended or after the next one was queued (or the run sent back), never between.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from executor.actions.outcomes import Failed, Outcome, Succeeded
from executor.engine import endings, history
from executor.engine.history import LOOP, iteration_of
from executor.errors import ExecutorError
from executor.statuses import StepStatus
from executor.store.records import StepFields, StepRow
from executor.workflow import Step
from executor.workflow.cycles import Goto, Repeat, region
from executor.workflow.expressions import is_true

if TYPE_CHECKING:
    from executor.engine.transitions import RunChange

Loop = dict[str, Any]


def reopened(row: StepRow, *, keep_jumps: bool = True) -> dict[str, Any]:
    """The state of ``row`` sent back to `pending` with its history kept: a new iteration,
    with a fresh retry budget, its `goto` jumps still counted (so a cycle always ends)
    unless ``keep_jumps`` is false (a goto nested in the region being run again)."""
    following = _next(row)
    if not keep_jumps:
        following.pop("jumps", None)
    # A finally step keeps the ending it runs for (a goto among finally steps, a step retry).
    return {**endings.inherited(row), LOOP: following}


def view(row: StepRow) -> dict[str, Any]:
    """What templates see as ``loop`` in a `repeat` step: ``index`` and ``previous``."""
    loop = iteration_of(row)
    return {"index": int(loop.get("index", 0)), "previous": loop.get("previous")}


def names(step: Step, row: StepRow) -> dict[str, Any]:
    """The template names a step's row adds for its `with` and `outputs`: ``loop``."""
    return {"loop": view(row)} if step.repeat is not None else {}


def ends_attempt(step: Step, row: StepRow) -> bool:
    """Whether recording an outcome for ``row`` ends an attempt in its history: a running
    one; for a `repeat` step also a waiting one (its child run or signal is the iteration's
    result), so that every iteration shows in the history."""
    return row.status == StepStatus.RUNNING or (step.repeat is not None and row.status == StepStatus.WAITING)


async def settle(change: RunChange, row: StepRow, outcome: Succeeded) -> Outcome | None:
    """A success of a step with `repeat` or `goto`, before it is recorded: the outcome to
    record (the success, or a failure: ``max`` reached with ``on_max: fail``, or a condition
    that did not render), or None when this change already sent the step round again (its
    next iteration queued, or the run sent back to the goto's target)."""
    step = change.workflow.step(row.step_id)
    settled: Outcome | None = outcome
    if step.repeat is not None:
        settled = await _repeat(change, row, step, step.repeat, outcome)
    if step.goto is not None and isinstance(settled, Succeeded):
        settled = await _goto(change, row, step, step.goto, settled)
    return settled


async def _repeat(
    change: RunChange, row: StepRow, step: Step, repeat: Repeat, outcome: Succeeded
) -> Outcome | None:
    index = int(iteration_of(row).get("index", 0))
    last = index + 1 >= repeat.max
    if repeat.until is None:  # a counted loop: max iterations, then done
        if last:
            return outcome
    else:
        try:
            done = is_true(await _render(change, row, step, repeat.until, "repeat.until", outcome, view(row)))
        except ExecutorError as exc:  # names it: "repeat.until: {{ ... }}: reason"
            return Failed(exc.message, retryable=False)
        if done or (last and repeat.on_max == "succeed"):
            return outcome
        if last:
            return Failed(
                f"repeat: until was still false after {repeat.max} iterations (max {repeat.max})",
                retryable=False,
                output=outcome.output,
            )
    now = time.time()
    output = change.scope.masker.mask(outcome.output)
    # What the action suspended with goes; what the row was given to run with stays.
    state: dict[str, Any] = {
        **endings.inherited(row),
        LOOP: {**_next(row), "index": index + 1, "previous": output},
    }
    if row.item_index >= 0:
        state["item"] = (row.state or {}).get("item")
    again: StepFields = {"state": state, "error": None, "available_at": now + repeat.delay}
    if ends_attempt(step, row):
        again["history"] = history.ended(row, "succeeded", now)
    await change.set_step(row, StepStatus.QUEUED, **again)
    return None


async def _goto(
    change: RunChange, row: StepRow, step: Step, goto: Goto, outcome: Succeeded
) -> Outcome | None:
    jumps = int(iteration_of(row).get("jumps", 0))
    if goto.when is None:  # counted: taken max times
        if jumps >= goto.max:
            return outcome
    else:
        try:
            wanted = is_true(await _render(change, row, step, goto.when, "goto.when", outcome, None))
        except ExecutorError as exc:  # names it: "goto.when: {{ ... }}: reason"
            return Failed(exc.message, retryable=False)
        if not wanted or (jumps >= goto.max and goto.on_max == "succeed"):
            return outcome
        if jumps >= goto.max:
            return Failed(
                f"goto {goto.step}: when was still true after {goto.max} jumps (max {goto.max})",
                retryable=False,
            )
    now = time.time()
    state = {**(row.state or {}), LOOP: {**iteration_of(row), "jumps": jumps + 1}}
    done: StepFields = {"output": change.scope.masker.mask(outcome.output), "error": None, "state": state}
    if ends_attempt(step, row):
        done["history"] = history.ended(row, "succeeded", now)
    await change.set_step(row, StepStatus.SUCCEEDED, **done)
    # A goto stays in its section (a finally step's needs are finally steps).
    section = change.workflow.finally_ if step.id in change.workflow.finally_ids else change.workflow.steps
    needs = {s.id: s.needs for s in section}
    again = region(needs, goto.step, step.id)
    # A goto whose whole region lies inside this one is an inner loop: it counts afresh in
    # each outer iteration (this goto's own count, kept, still bounds the whole).
    nested = [
        other.id
        for other in section
        if other.goto is not None
        and other.id != step.id
        and region(needs, other.goto.step, other.id) <= again
    ]
    await change.reopen(again, restart_gotos=nested)
    await change.advance()
    return None


def _next(row: StepRow) -> Loop:
    """The counters of ``row``'s next iteration: numbered on, a fresh retry budget, the
    goto jumps kept (so that a cycle always ends); a repeat starts again at index 0."""
    loop = iteration_of(row)
    following: Loop = {"iteration": int(loop.get("iteration", 0)) + 1, "base": row.attempt}
    if "jumps" in loop:
        following["jumps"] = loop["jumps"]
    return following


async def _render(
    change: RunChange, row: StepRow, step: Step, value: Any, where: str, outcome: Succeeded, loop: Loop | None
) -> Any:
    extra: dict[str, Any] = {"result": outcome.output}
    if loop is not None:
        extra["loop"] = loop
    if row.item_index >= 0:
        extra.update(item=(row.state or {}).get("item"), index=row.item_index)
    return await change._render(value, where, step, **extra)
