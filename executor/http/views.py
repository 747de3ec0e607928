"""How runs, steps, workflows, schedules and log lines look in API answers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from executor.engine.bulk import BulkResult
from executor.scheduler import ScheduleView
from executor.statuses import RunStatus
from executor.store.records import (
    Instance,
    LlmCallRecord,
    LlmTotals,
    Place,
    RunRecord,
    StepRow,
    StoredLogLine,
    WorkflowRecord,
    WorkflowVersion,
)


def iso(value: float | None) -> str | None:
    return None if value is None else datetime.fromtimestamp(value, UTC).isoformat().replace("+00:00", "Z")


def workflow(record: WorkflowRecord) -> dict[str, Any]:
    return {
        "name": record.name,
        "version": record.version,
        "digest": record.digest,
        "created_at": iso(record.created_at),
        "description": record.definition.get("description") or "",
        "definition": record.definition,
        "source": record.source,
    }


def workflow_with_runs(record: WorkflowRecord, runs: dict[RunStatus, int]) -> dict[str, Any]:
    """A workflow as `GET /workflows` lists it: with its runs kept, by status."""
    return {**workflow(record), "runs": {status.value: count for status, count in runs.items() if count}}


def workflow_version(version: WorkflowVersion) -> dict[str, Any]:
    return {"version": version.version, "digest": version.digest, "created_at": iso(version.created_at)}


def instance(record: Instance, steps_in_flight: int, now: float) -> dict[str, Any]:
    beat = record.heartbeat_at
    return {
        "id": record.id,
        "host": record.host,
        "pid": record.pid,
        "version": record.version,
        "state": record.state,
        "started_at": iso(record.started_at),
        "heartbeat_at": iso(beat),
        # Never negative: on PostgreSQL the heartbeat is the database's clock, not ours.
        "heartbeat_age_seconds": None if beat is None else round(max(0.0, now - beat), 3),
        "heartbeat_timeout": record.heartbeat_timeout,
        "steps_in_flight": steps_in_flight,
    }


def bulk(result: BulkResult) -> dict[str, Any]:
    answer: dict[str, Any] = {"action": result.action, "dry_run": result.dry_run, "matched": result.matched}
    if not result.dry_run:
        answer.update(
            changed=result.changed,
            skipped=result.skipped,
            run_ids=result.run_ids,
            failed=[{"run_id": run_id, "error": error} for run_id, error in result.failed],
        )
    return answer


def _step(row: StepRow) -> dict[str, Any]:
    return {
        "status": row.status,
        "attempts": row.attempt,
        "started_at": iso(row.started_at),
        "finished_at": iso(row.finished_at),
        "output": row.output,
        "error": row.error,
        "history": [_attempt(entry) for entry in row.history or ()],
    }


def _attempt(entry: dict[str, Any]) -> dict[str, Any]:
    """One ended attempt: its times as the API writes times, the rest as recorded."""
    return {**entry, "started_at": iso(entry.get("started_at")), "ended_at": iso(entry.get("ended_at"))}


def run(record: RunRecord, rows: list[StepRow] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "id": record.id,
        "workflow": record.workflow_name,
        "version": record.workflow_version,
        "status": record.status,
        "input": record.input,
        "outputs": record.outputs,
        "error": record.error,
        "idempotency_key": record.idempotency_key,
        "priority": record.priority,
        "parent_run_id": record.parent_run_id,
        "trigger": trigger(record),
        "created_at": iso(record.created_at),
        "started_at": iso(record.started_at),
        "finished_at": iso(record.finished_at),
    }
    if rows is not None:
        steps: dict[str, dict[str, Any]] = {}
        for row in rows:
            if row.item_index == -1:
                steps[row.step_id] = {"id": row.step_id, **_step(row)}
        for row in rows:
            if row.item_index >= 0 and row.step_id in steps:
                steps[row.step_id].setdefault("items", []).append({"index": row.item_index, **_step(row)})
        answer["steps"] = list(steps.values())
    return answer


def trigger(record: RunRecord) -> dict[str, Any]:
    """What started the run; for a schedule's run, which schedule and the tick (nominal time)."""
    answer: dict[str, Any] = {"type": record.trigger}
    if record.schedule_id is not None:
        answer["schedule"] = record.schedule_id
        answer["tick"] = iso(record.schedule_tick)
    return answer


def schedule(view: ScheduleView) -> dict[str, Any]:
    row, spec = view.row, view.spec
    return {
        "workflow": row.workflow_name,
        "id": row.schedule_id,
        "cron": spec.cron,
        "every": spec.every,
        "timezone": spec.timezone,
        "input": spec.input,
        "overlap": spec.overlap,
        "catchup_window": spec.catchup_window,
        "jitter": spec.jitter,
        "paused": row.paused,
        "next_tick": iso(row.next_tick),
        "last_tick": iso(row.last_tick),
        "next_ticks": [iso(tick) for tick in view.next_ticks],
        "buffered": [iso(entry["tick"]) for entry in row.buffered],
        "fired": row.fired,
        "missed": row.missed,
        "skipped": row.skipped,
    }


def log_line(line: StoredLogLine) -> dict[str, Any]:
    return {
        "id": line.id,
        "attempt": line.attempt,
        "stream": line.stream,
        "line": line.line,
        "time": iso(line.created_at),
    }


def with_places(
    answer: dict[str, Any], places: list[Place], holders: dict[str, list[Place]]
) -> dict[str, Any]:
    """A run's answer with its places under keys of mutual exclusion (`Engine.places`):
    ``holds``, the keys it or its steps hold, and ``waiting_for`` on the run (its
    concurrency key) and on each step waiting in a key's line: the key, the limit, its
    position in line (1: next) and who holds the key now."""
    if not places:
        return answer
    answer["holds"] = [{"key": place.key, "step": place.step_id} for place in places if place.holding]
    steps = {step["id"]: step for step in answer.get("steps", ())}
    for place in places:
        if place.holding:
            continue
        waiting = {
            "kind": "concurrency" if place.step is None else "mutex" if place.limit == 1 else "semaphore",
            "key": place.key,
            "limit": place.limit,
            "position": place.position,
            "since": iso(place.created_at),
            "holders": [{"run_id": h.run_id, "step": h.step_id} for h in holders.get(place.key, ())],
        }
        if place.step_id is None:
            answer["waiting_for"] = waiting
        elif place.step_id in steps:
            steps[place.step_id]["waiting_for"] = waiting
    return answer


def llm_totals(totals: LlmTotals) -> dict[str, Any]:
    return {
        "calls": totals.calls,
        "input_tokens": totals.input_tokens,
        "output_tokens": totals.output_tokens,
        "cached_tokens": totals.cached_tokens,
        "reasoning_tokens": totals.reasoning_tokens,
        "cost_usd": round(totals.cost_usd, 9),  # a sum of floats: no noise in the last digits
    }


def llm_call(call: LlmCallRecord) -> dict[str, Any]:
    return {
        "id": call.id,
        "step": call.step_id,
        "item": call.item_index if call.item_index >= 0 else None,
        "attempt": call.attempt,
        "model": call.model,
        "input_tokens": call.input_tokens,
        "output_tokens": call.output_tokens,
        "cached_tokens": call.cached_tokens,
        "reasoning_tokens": call.reasoning_tokens,
        "cost_usd": call.cost_usd,
        "seconds": round(call.seconds, 6),
        "outcome": call.outcome,
        "error": call.error,
        "time": iso(call.created_at),
    }
