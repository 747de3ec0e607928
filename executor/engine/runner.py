"""Running one claimed step: render its parameters, run its action, shape its output.

The runner decides nothing about the run: it turns an attempt into an `Outcome` and hands
it to the engine, which records it under the run's lock (rejecting it if the lease was
lost meanwhile).
"""

from __future__ import annotations

import asyncio
from typing import Any

from executor.actions import Attempt
from executor.actions.outcomes import Failed, Outcome
from executor.actions.registry import ACTIONS
from executor.durations import format_duration
from executor.engine import cycles
from executor.engine.logs import LogBuffer
from executor.errors import ExecutorError, StoreError
from executor.render.renderer import Renderer
from executor.store import Store
from executor.store.records import Claimed
from executor.workflow import Masker, Step, Workflow, build_context
from executor.workflow.schedules import template_context


def idempotency_key(claimed: Claimed) -> str:
    row = claimed.row
    return f"{row.run_id}:{row.step_id}" + (f":{row.item_index}" if row.item_index >= 0 else "")


async def run_attempt(
    store: Store,
    workflow: Workflow,
    claimed: Claimed,
    secrets: dict[str, str],
    masker: Masker,
    instance: str = "",
    renderer: Renderer | None = None,
) -> Outcome:
    row = claimed.row
    step = workflow.step(row.step_id)
    action = ACTIONS[step.action]
    try:
        if step.templated:
            params = await _params(store, workflow, step, claimed, secrets, renderer or Renderer())
        else:
            params = step.with_
    except StoreError:
        # The database, not the step, failed: the attempt ends without an outcome, its lease
        # runs out and it runs again (lost, not failed; the fleet test cuts every connection).
        raise
    except ExecutorError as exc:  # names the parameter: "with.command: {{ ... }}: reason"
        return Failed(exc.message, retryable=False)
    logs = LogBuffer(store, row.id, row.attempt, masker)
    attempt = Attempt(
        run_id=row.run_id,
        step_id=row.step_id,
        item_index=row.item_index,
        attempt=row.attempt,
        idempotency_key=idempotency_key(claimed),
        params=params,
        state=dict(claimed.row.state or {}) if claimed.resumed else {},
        log=logs.write,
        instance=instance,
        safe_cut=masker.safe_cut,
    )
    try:
        if claimed.resumed:
            outcome: Outcome = await action.resume(attempt)
        elif step.timeout is not None and not action.durable:
            try:
                async with asyncio.timeout(step.timeout):
                    outcome = await action.run(attempt)
            except TimeoutError:
                outcome = Failed(f"timed out after {format_duration(step.timeout)}")
        else:
            outcome = await action.run(attempt)
    except StoreError:
        raise
    except ExecutorError as exc:
        outcome = Failed(exc.message)
    finally:
        await logs.close()
    return outcome


async def _params(
    store: Store,
    workflow: Workflow,
    step: Step,
    claimed: Claimed,
    secrets: dict[str, str],
    renderer: Renderer,
) -> Any:
    """The step's ``with``, rendered in the run's context (a template that needs a worker
    gets the step's ``timeout``, else the renderer's)."""
    row = claimed.row
    # A chain of 2,000 steps must not read 2,000 results per step: only when asked for.
    results = await store.step_results(row.run_id) if step.reads_steps else {}
    extra: dict[str, Any] = cycles.names(step, row)  # `loop` in a repeat step
    if row.item_index >= 0:
        extra.update(item=(row.state or {}).get("item"), index=row.item_index)
    if step.id in workflow.finally_ids:  # how the run is about to end (`engine.endings`)
        extra["ending"] = (row.state or {}).get("run")
    context = build_context(
        inputs=claimed.run_input,
        steps={
            step_id: {"status": status, "output": output} for step_id, (status, output) in results.items()
        },
        run_id=row.run_id,
        workflow=claimed.workflow_name,
        secrets=secrets,
        schedule=template_context(
            workflow.schedule(claimed.schedule_id), claimed.schedule_id, claimed.schedule_tick
        ),
        **extra,
    )
    return await renderer.render(step.with_, context, where="with", timeout=step.timeout)
