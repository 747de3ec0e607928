"""What both stores share: row decoding and the columns the engine may change."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from executor.store.records import LogLine, NewRun, NewStep, RunRecord, StepRow, WorkflowRecord

RUN_JSON = frozenset({"input", "outputs"})
STEP_JSON = frozenset({"state", "output"})
RUN_TIMES = frozenset({"deadline_at", "created_at", "started_at", "finished_at"})
STEP_TIMES = frozenset({"available_at", "lease_expires_at", "created_at", "started_at", "finished_at"})

# The columns `Txn.update_run` and `Txn.update_step` may set.
RUN_UPDATABLE = frozenset({"status", "outputs", "error", "started_at", "finished_at", "deadline_at"})
STEP_UPDATABLE = frozenset(
    {"status", "attempt", "available_at", "state", "output", "error", "started_at", "finished_at"}
)


def log_params(lines: Sequence[LogLine]) -> list[dict[str, Any]]:
    return [
        {"step": x.step, "attempt": x.attempt, "stream": x.stream, "line": x.line, "created_at": x.created_at}
        for x in lines
    ]


def run_params(run: NewRun, encode: Callable[[Any], Any]) -> dict[str, Any]:
    return {
        "id": run.id,
        "workflow_name": run.workflow_name,
        "workflow_version": run.workflow_version,
        "input": encode(run.input),
        "idempotency_key": run.idempotency_key,
        "priority": run.priority,
        "parent_run_id": run.parent_run_id,
        "parent_step": run.parent_step,
        "deadline_at": run.deadline_at,
    }


def step_params(run_id: str, steps: Sequence[NewStep], encode: Callable[[Any], Any]) -> list[dict[str, Any]]:
    return [
        {
            "run_id": run_id,
            "step_id": step.step_id,
            "item_index": step.item_index,
            "status": step.status,
            "available_at": step.available_at,
            "state": encode(step.state),
        }
        for step in steps
    ]


def leaving_running(changes: dict[str, Any]) -> dict[str, Any]:
    """A step that leaves `running` gives up its lease: owner, token and expiry are cleared."""
    if changes.get("status", "running") != "running":
        return {**changes, "lease_owner": None, "lease_token": None, "lease_expires_at": None}
    return changes


def dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def loads(value: Any) -> Any:
    """Decode a JSON column stored as text (SQLite)."""
    return None if value is None else json.loads(value)


def as_is(value: Any) -> Any:
    """A JSON column psycopg has already decoded (PostgreSQL jsonb)."""
    return value


def check_columns(changes: dict[str, Any], allowed: frozenset[str], table: str) -> None:
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"cannot update {table} column(s) {', '.join(sorted(unknown))}")


Decode = Callable[[Any], Any]


def run_record(row: Sequence[Any], decode: Decode = loads) -> RunRecord:
    (id_, wf, version, status, input_, outputs, error, key, priority, parent, parent_step,
     deadline, created, started, finished) = row  # fmt: skip
    return RunRecord(
        id=str(id_),
        workflow_name=wf,
        workflow_version=version,
        status=status,
        input=decode(input_),
        outputs=decode(outputs),
        error=error,
        idempotency_key=key,
        priority=priority,
        parent_run_id=None if parent is None else str(parent),
        parent_step=parent_step,
        deadline_at=deadline,
        created_at=created,
        started_at=started,
        finished_at=finished,
    )


def step_row(row: Sequence[Any], decode: Decode = loads) -> StepRow:
    (id_, run_id, step_id, item, status, attempt, available, owner, token, expires, state, output,
     error, created, started, finished) = row[:16]  # fmt: skip
    return StepRow(
        id=id_,
        run_id=str(run_id),
        step_id=step_id,
        item_index=item,
        status=status,
        attempt=attempt,
        available_at=available,
        lease_owner=owner,
        lease_token=None if token is None else str(token),
        lease_expires_at=expires,
        state=decode(state),
        output=decode(output),
        error=error,
        created_at=created,
        started_at=started,
        finished_at=finished,
    )


def workflow_record(row: Sequence[Any], decode: Decode = loads) -> WorkflowRecord:
    name, version, digest, source, definition, created = row
    return WorkflowRecord(name, version, digest, source, decode(definition), created)
