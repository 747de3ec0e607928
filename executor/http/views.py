"""How runs, steps, workflows and log lines look in API answers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from executor.store.records import RunRecord, StepRow, StoredLogLine, WorkflowRecord


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


def log_line(line: StoredLogLine) -> dict[str, Any]:
    return {
        "id": line.id,
        "attempt": line.attempt,
        "stream": line.stream,
        "line": line.line,
        "time": iso(line.created_at),
    }
