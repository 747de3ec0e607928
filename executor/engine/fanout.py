"""A for_each step that ends before all its items do: ``fail_fast`` (the first item that
fails for good fails the step) and ``min_success: N`` (the step succeeds once N items
succeeded, and fails once fewer than N still can). Either way the items still unfinished
are cancelled, and their outputs in the step's output list are null."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from executor.statuses import StepStatus
from executor.store.records import StepRow
from executor.workflow.foreach import modifiers

if TYPE_CHECKING:
    from executor.engine.transitions import RunChange


async def ended_early(
    change: RunChange, parent: StepRow, state: dict[str, Any], item: StepStatus | None
) -> bool:
    """Count the item that became final into ``state`` (``item``: its status; None: an
    operator cancelled it); when that decides the step, cancel the other unfinished items,
    finish the step and return True."""
    wanted = modifiers(change.workflow.step(parent.step_id).for_each)
    if not wanted.fail_fast and wanted.min_success is None:
        return False
    key = "succeeded" if item == StepStatus.SUCCEEDED else "unsucceeded"
    state[key] = state.get(key, 0) + 1
    ok, bad = state.get("succeeded", 0), state.get("unsucceeded", 0)
    verdict: tuple[StepStatus, str] | None = None
    if wanted.min_success is not None and ok >= wanted.min_success:
        verdict = StepStatus.SUCCEEDED, f"min_success {wanted.min_success} reached"
    elif wanted.fail_fast and item == StepStatus.FAILED:
        verdict = StepStatus.FAILED, "fail_fast"
    elif wanted.min_success is not None and _counted(state) and state["items"] - bad < wanted.min_success:
        verdict = StepStatus.FAILED, f"min_success {wanted.min_success} can no longer be reached"
    if verdict is None:
        return False
    await _end(change, parent, state, *verdict)
    return True


async def closed(change: RunChange, parent: StepRow, state: dict[str, Any]) -> bool:
    """Items that arrive as signals stopped arriving (`until` came): with ``min_success``,
    fail the step at once when fewer than N can still succeed. True when that ended it."""
    minimum = modifiers(change.workflow.step(parent.step_id).for_each).min_success
    if minimum is None or state["items"] - state.get("unsucceeded", 0) >= minimum:
        return False
    await _end(change, parent, state, StepStatus.FAILED, f"min_success {minimum} can no longer be reached")
    return True


def _counted(state: dict[str, Any]) -> bool:
    """Whether the number of items is known (items that arrive as signals: once closed)."""
    return "until" not in state or bool(state.get("closed"))


async def _end(
    change: RunChange, parent: StepRow, state: dict[str, Any], status: StepStatus, why: str
) -> None:
    items = await change.txn.items(change.run.id, parent.step_id)
    failed = [row for row in items if row.final and row.status != StepStatus.SUCCEEDED]
    for item in items:
        if not item.final:
            await change.halt(item, f"cancelled: for_each {why}")
    if status == StepStatus.SUCCEEDED:
        outputs = [row.output if row.status == StepStatus.SUCCEEDED else None for row in items]
        await change.set_step(parent, StepStatus.SUCCEEDED, output=outputs, state=state)
        return
    first = failed[0] if failed else None
    detail = f": item {first.item_index} {first.status}: {first.error or ''}".rstrip(": ") if first else ""
    await change.set_step(parent, StepStatus.FAILED, error=f"for_each {why}{detail}", state=state)
