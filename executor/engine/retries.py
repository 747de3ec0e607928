"""Whether a failed attempt is tried again, and after how long.

The retry policy's budget (`max_attempts`) and backoff decide first; then ``retry.when``,
a template over the failed attempt's ``result`` (what the action reported with its
failure: a command's exit code and output, a response's status and body) and ``error``:
false ends the step's attempts. An action may ask for a longer wait (`Failed.retry_after`:
an HTTP ``Retry-After``); the next attempt waits the longer of the two.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from executor.actions.outcomes import Failed
from executor.errors import ExecutorError
from executor.store.records import StepRow
from executor.workflow import Step
from executor.workflow.expressions import is_true

if TYPE_CHECKING:
    from executor.engine.transitions import RunChange


async def next_delay(
    change: RunChange, row: StepRow, step: Step, outcome: Failed, spent: int
) -> tuple[float | None, str | None]:
    """Seconds until the next attempt (None: no more attempts) and, when ``retry.when``
    could not be rendered, why (for the step's error)."""
    if not outcome.retryable or spent >= step.retry.max_attempts:
        return None, None
    if step.retry.when is not None:
        try:
            wanted = is_true(await _render_when(change, row, step, outcome))
        except ExecutorError as exc:  # names it: "retry.when: {{ ... }}: reason"
            return None, exc.message
        if not wanted:
            return None, None
    delay = step.retry.delay_after(spent)
    if outcome.retry_after is not None:
        delay = max(delay, outcome.retry_after)
    return delay, None


async def _render_when(change: RunChange, row: StepRow, step: Step, outcome: Failed) -> Any:
    extra: dict[str, Any] = {"result": outcome.result}
    if row.item_index >= 0:
        extra.update(item=(row.state or {}).get("item"), index=row.item_index)
    context = {**await change.context(**extra), "error": outcome.error}
    return await change.scope.renderer.render(
        step.retry.when, context, where="retry.when", timeout=step.timeout, in_transaction=True
    )
