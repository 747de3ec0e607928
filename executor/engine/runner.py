"""Running one claimed step: render its parameters, run its action, shape its output.

The runner decides nothing about the run: it turns an attempt into an `Outcome` and hands
it to the engine, which records it under the run's lock (rejecting it if the lease was
lost meanwhile).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from executor.actions import Attempt
from executor.actions.context import LlmCall
from executor.actions.outcomes import Failed, Outcome, Succeeded
from executor.actions.registry import ACTIONS
from executor.artifacts import Artifacts, artifact_json, collect
from executor.artifacts.workspace import workspace
from executor.durations import format_duration
from executor.engine import cycles
from executor.engine.logs import LogBuffer
from executor.errors import ArtifactRefused, ExecutorError, StoreError
from executor.render.renderer import Renderer
from executor.sizes import format_usd
from executor.store import Store
from executor.store.records import ArtifactRecord, Claimed
from executor.workflow import Masker, Step, Workflow, build_context
from executor.workflow.artifacts import TAKES_ARTIFACTS
from executor.workflow.schedules import template_context


def ignore_llm_call(call: LlmCall) -> None:
    """Where calls to models go when nobody records them."""


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
    artifacts: Artifacts | None = None,
    *,
    report_llm: Callable[[LlmCall], None] = ignore_llm_call,
) -> Outcome:
    """Run one attempt: render its parameters, run its action and, for an action that
    leaves files, keep them as the attempt's artifacts (uploaded now, kept by the
    transaction that records the success)."""
    row = claimed.row
    step = workflow.step(row.step_id)
    if workflow.budget is not None and ACTIONS[step.action].metered and not claimed.resumed:
        # A sum of floats (ten calls of $0.10 are $0.9999999999999999): to the nano-dollar.
        spent = round((await store.run_llm_totals(row.run_id)).cost_usd, 9)
        if spent >= workflow.budget:  # per run: its child runs spend budgets of their own
            error = f"the run has spent {format_usd(spent)} of its {format_usd(workflow.budget)} budget"
            return Failed(error, retryable=False)
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
    if artifacts is None or step.action not in TAKES_ARTIFACTS or claimed.resumed:
        return await _act(store, step, claimed, params, masker, instance, report_llm=report_llm)
    try:
        async with workspace(artifacts, row.run_id, params) as space:
            outcome = await _act(
                store, step, claimed, space.params, masker, instance, str(space.out), report_llm=report_llm
            )
            if isinstance(outcome, Succeeded):
                cwd = Path(str(space.params.get("cwd") or os.getcwd()))
                files = await asyncio.to_thread(collect, space.out, step.artifacts, cwd)
                outcome = replace(outcome, artifacts=await artifacts.upload(claimed, files))
            return outcome
    except ArtifactRefused as exc:  # before the command (artifacts_from) or after it
        return Failed(exc.message, retryable=False)
    except OSError as exc:  # a file the command left that cannot be read, a full disk
        return Failed(f"artifacts: {exc}", retryable=False)


async def _act(
    store: Store,
    step: Step,
    claimed: Claimed,
    params: Any,
    masker: Masker,
    instance: str,
    artifacts_dir: str | None = None,
    *,
    report_llm: Callable[[LlmCall], None] = ignore_llm_call,
) -> Outcome:
    """Run the action on the rendered ``params``, its output into the step's log."""
    row = claimed.row
    action = ACTIONS[step.action]
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
        artifacts_dir=artifacts_dir,
        report_llm=report_llm,
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
    steps: dict[str, dict[str, Any]] = {
        step_id: {"status": status, "output": output} for step_id, (status, output) in results.items()
    }
    if step.reads_artifacts:  # `{{ steps.build.artifacts }}`
        for step_id, listed in _artifacts(await store.list_artifacts(row.run_id)).items():
            if step_id in steps:
                steps[step_id]["artifacts"] = listed
    context = build_context(
        inputs=claimed.run_input,
        steps=steps,
        run_id=row.run_id,
        workflow=claimed.workflow_name,
        secrets=secrets,
        schedule=template_context(
            workflow.schedule(claimed.schedule_id), claimed.schedule_id, claimed.schedule_tick
        ),
        **extra,
    )
    return await renderer.render(step.with_, context, where="with", timeout=step.timeout)


def _artifacts(records: list[ArtifactRecord]) -> dict[str, list[dict[str, Any]]]:
    """Kept artifacts by step, as templates see them."""
    by_step: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_step.setdefault(record.step_id, []).append(artifact_json(record))
    return by_step
