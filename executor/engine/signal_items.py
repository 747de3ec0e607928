"""Signals given to the steps that take them, inside the `RunChange` that keeps the signal.

Two kinds of step take signals:

- a `wait` step, on one name (its output is the payload) or on a choice of names
  (``signal: [approve, reject]``: the first of them to arrive; its output is
  ``{signal: name, payload: ...}``);
- a for_each step whose items arrive as signals (``for_each: {signal: line, until: done}``):
  each ``line`` signal becomes an item (its payload the item, its index the order of
  arrival), until the ``until`` signal; the step then ends once every item is final.

A signal is kept (`Txn.insert_signal`) and taken (`Txn.take_first_signal`) in the same
transaction as what it causes (the step completing, the item row created), and a signal is
taken at most once: one signal is one outcome or one item, whichever instance receives it.
Signals sent before their step started are kept and taken, oldest first, when it starts.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from executor.actions.outcomes import Succeeded
from executor.engine import fanout
from executor.statuses import StepStatus
from executor.store.records import NewStep, StepRow
from executor.workflow import Step, foreach
from executor.workflow.foreach import signal_source

if TYPE_CHECKING:
    from executor.engine.transitions import RunChange

MAX_ITEMS = foreach.MAX_ITEMS  # later item signals are left untaken


def names(spec: str | list[str]) -> list[str]:
    """The names a `wait` step's ``signal`` parameter waits for."""
    return [spec] if isinstance(spec, str) else list(spec)


def output(spec: str | list[str], name: str, payload: Any) -> Any:
    """A `wait` step's output: the payload for one name (as before choices existed); which
    signal and its payload for a choice."""
    return payload if isinstance(spec, str) else {"signal": name, "payload": payload}


def source(step: Step) -> tuple[str, str] | None:
    """``(signal, until)`` of a for_each step whose items arrive as signals, else None."""
    return signal_source(step.for_each)


def collecting(state: dict[str, Any]) -> bool:
    """Whether a for_each step (its state) still takes items: its `until` has not come."""
    return "until" in state and not state.get("closed", False)


async def start(change: RunChange, row: StepRow, step: Step) -> None:
    """Start a for_each step fed by signals: running, with the items already sent."""
    names_ = source(step)
    assert names_ is not None, "a step with a signal source"
    signal, until = names_
    state = {"items": 0, "next": 0, "done": 0, "signal": signal, "until": until, "closed": False}
    row = await change.set_step(row, StepStatus.RUNNING, started_at=time.time(), state=state)
    await _collect(change, row, step)


async def deliver(change: RunChange, name: str) -> bool:
    """Give the signal ``name`` just kept to the first step (in row order) that takes it.
    True when one took it; otherwise it stays kept for a step that will."""
    for row in await _takers(change, name):
        if row.status == StepStatus.WAITING:
            spec = (row.state or {})["signal"]
            taken = await change.txn.take_first_signal(change.run.id, names(spec), row.id)
            if taken is not None:
                await change.complete(row, Succeeded(output(spec, *taken)))
                return True
        elif await _collect(change, row, change.workflow.step(row.step_id)):
            if change.step_level[row.step_id].final:
                await change.advance(after=row.step_id)
            return True
    return False


async def _takers(change: RunChange, name: str) -> list[StepRow]:
    """The rows that take ``name`` now, in row order: `wait` steps (and items) waiting for it,
    and for_each steps collecting it. Only the steps that can take a signal are read, so a
    signal costs the same beside a 5,000-item for_each of shell items."""
    steps = (*change.workflow.steps, *change.workflow.finally_)
    waits = [step for step in steps if step.action == "wait"]
    collectors = [step for step in steps if name in (source(step) or ())]
    await change.read_steps([step.id for step in waits + collectors])
    rows = [change.step_level[step.id] for step in waits + collectors]
    for step in waits:
        if step.for_each is not None:
            rows += await change.txn.items(change.run.id, step.id)
    return sorted((row for row in rows if name in waited_for(row)), key=lambda row: row.id)


def waited_for(row: StepRow) -> list[str]:
    """The names of the signals a row takes now: those a waiting `wait` step (or item) waits
    for, or the two a for_each step fed by signals collects."""
    state = row.state if isinstance(row.state, dict) else {}
    if row.status == StepStatus.WAITING and "signal" in state:
        return names(state["signal"])
    if row.status == StepStatus.RUNNING and row.item_index == -1 and collecting(state):
        return [state["signal"], state["until"]]
    return []


async def _collect(change: RunChange, parent: StepRow, step: Step) -> bool:
    """Take the signals waiting for a collecting for_each step, oldest first: each item signal
    becomes an item, until the `until` signal (those sent after it stay untaken). The step
    ends when `until` came and every item is final (or at once when `until` leaves too few
    items for its `min_success`). True when it took any."""
    state = dict(parent.state)
    took = False
    while collecting(state):
        wanted = [state["until"]] if state["items"] >= MAX_ITEMS else [state["signal"], state["until"]]
        taken = await change.txn.take_first_signal(change.run.id, wanted, parent.id)
        if taken is None:
            break
        took = True
        if taken[0] == state["until"]:
            state["closed"] = True
        else:
            await _add_item(change, parent, state, taken[1], step.concurrency or MAX_ITEMS)
    if not collecting(state) and await fanout.closed(change, parent, state):
        return took
    if not collecting(state) and state["done"] == state["items"]:
        await change.finish_items(parent, state)
    else:
        await change.txn.update_step(parent.id, state=state)
        change._keep(parent.replace(state=state))
        change._open.add(parent.step_id)
    return took


async def _add_item(change: RunChange, parent: StepRow, state: dict[str, Any], item: Any, limit: int) -> None:
    """Item number ``state["items"]``: queued at once when fewer than ``limit`` items are in
    flight and none waits before it, else pending (`_items_moved` queues it in turn)."""
    index = state["items"]
    queue = state["next"] == index and index - state["done"] < limit
    now = time.time()
    await change.txn.insert_steps(
        change.run.id,
        [
            NewStep(
                step_id=parent.step_id,
                item_index=index,
                status=StepStatus.QUEUED if queue else StepStatus.PENDING,
                available_at=now if queue else None,
                state={"item": item},
            )
        ],
    )
    state["items"] += 1
    if queue:
        state["next"] += 1
        change.scope.queued = True
