"""What both stores share: row decoding and the columns the engine may change."""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from executor.statuses import RunStatus, StepStatus
from executor.store.records import (
    Claimed,
    Instance,
    LogLine,
    NewLlmCall,
    NewRun,
    NewStep,
    Place,
    RunChanges,
    RunFilter,
    RunRecord,
    ScheduleFields,
    ScheduleRow,
    StepChanges,
    StepRow,
    StoredLogLine,
    WorkflowRecord,
    WorkflowVersion,
)

RUN_JSON = frozenset({"input", "outputs"})
STEP_JSON = frozenset({"state", "output", "history"})
RUN_TIMES = frozenset({"deadline_at", "created_at", "started_at", "finished_at"})
STEP_TIMES = frozenset({"available_at", "lease_expires_at", "created_at", "started_at", "finished_at"})

# The columns `Txn.update_run` and `Txn.update_step` may set: their typed changes' keys.
RUN_UPDATABLE = RunChanges.__optional_keys__
STEP_UPDATABLE = StepChanges.__optional_keys__


def log_params(lines: Sequence[LogLine]) -> list[dict[str, Any]]:
    return [
        {
            "step": x.step,
            "attempt": x.attempt,
            "stream": x.stream,
            "line": text(x.line),
            "created_at": x.created_at,
        }
        for x in lines
    ]


def llm_call_params(calls: Sequence[NewLlmCall], now: float | None) -> list[dict[str, Any]]:
    return [
        {
            "run_id": x.run_id,
            "step_id": x.step_id,
            "item_index": x.item_index,
            "attempt": x.attempt,
            "model": text(x.model),
            "input_tokens": x.input_tokens,
            "output_tokens": x.output_tokens,
            "cached_tokens": x.cached_tokens,
            "reasoning_tokens": x.reasoning_tokens,
            "cost_usd": x.cost_usd,
            "seconds": x.seconds,
            "outcome": x.outcome,
            "error": text(x.error),
            "now": now,
        }
        for x in calls
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
        "trigger": run.trigger,
        "schedule_id": run.schedule_id,
        "schedule_tick": run.schedule_tick,
        "traceparent": run.traceparent,
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


# The conditions a `RunFilter` (and a paging cursor) may set, each a named query
# ``runs_if_<name>`` of the dialect: a query's `RUN_FILTER` stands for those that apply,
# joined by AND. Only the conditions given are in the text, so each combination is planned
# for what it asks (an index on its column), not as one catch-all ``:x IS NULL OR ...``
# (which SQLite plans as a scan of every run).
RUN_CONDITIONS = ("workflow", "status", "statuses", "trigger", "since", "until", "parent", "before")
RUN_FILTER = "/* run_filter */"


def run_filter(
    sql: Mapping[str, str],
    name: str,
    filter: RunFilter,
    before: tuple[float, str] | None,
    encode_list: Callable[[list[str]], Any],
) -> tuple[str, dict[str, Any]] | None:
    """Query ``name`` with its `RUN_FILTER` made of ``filter`` and ``before``, and its
    parameters; None when no run can match (an id that cannot be a run's, see `is_uuid`).
    ``encode_list`` gives the dialect's value of a list parameter (``statuses``)."""
    ids = [filter.parent, before[1] if before else None]
    if any(value is not None and not is_uuid(value) for value in ids):
        return None
    given: dict[str, Any] = {
        "workflow": filter.workflow,
        "status": filter.status,
        "statuses": None if filter.statuses is None else encode_list(sorted(filter.statuses)),
        "trigger": filter.trigger,
        "since": filter.since,
        "until": filter.until,
        "parent": filter.parent,
    }
    conditions = [
        sql[f"runs_if_{c}"] for c in RUN_CONDITIONS if (before if c == "before" else given[c]) is not None
    ]
    before_at, before_id = before or (None, None)
    params = {**given, "before_at": before_at, "before_id": before_id}
    text = sql[name]
    assert text.count(RUN_FILTER) == 1, f"query {name} must hold {RUN_FILTER} once"
    return text.replace(RUN_FILTER, " AND ".join(conditions) or "TRUE"), params


def run_counts(rows: Iterable[Row]) -> dict[str, dict[RunStatus, int]]:
    counts: dict[str, dict[RunStatus, int]] = {}
    for row in rows:
        counts.setdefault(row["workflow_name"], {})[RUN_STATUS[row["status"]]] = int(row["runs"])
    return counts


def leaving_running(changes: Mapping[str, Any]) -> dict[str, Any]:
    """A step that leaves `running` gives up its lease: owner, token and expiry are cleared."""
    if changes.get("status", StepStatus.RUNNING) != StepStatus.RUNNING:
        return {**changes, "lease_owner": None, "lease_token": None, "lease_expires_at": None}
    return dict(changes)


def is_uuid(value: str) -> bool:
    """Whether ``value`` can be a run id. A run is looked up by id only if it can: PostgreSQL
    refuses to compare a uuid column with anything else, and SQLite answers as it does."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


# The free text columns (besides JSON) that hold what programs say: see `text`.
FREE_TEXT = frozenset({"error"})

NUL, REPLACEMENT = "\x00", "\ufffd"
_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")  # \u0000, not an escaped backslash's
# A surrogate escape that is not half of a pair (a lone surrogate in a Python string, from a
# reply's "\ud800", say): PostgreSQL's jsonb refuses it and no UTF-8 response can carry it.
_LONE_SURROGATE = re.compile(
    r"(?<!\\)((?:\\\\)*)(?:\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f][0-9a-f]{2})"
    r"|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2})"
)


def text(value: Any) -> Any:
    """A string with its NUL characters as U+FFFD: PostgreSQL stores no NUL in text, and
    both stores keep the same (a program's output may hold one). Other values as they are."""
    return value.replace(NUL, REPLACEMENT) if isinstance(value, str) else value


def json_text(value: Any) -> str:
    """``value`` as JSON text (None: ``null``), the same for both stores: NaN and ±Infinity,
    which JSON has not, become null (as JavaScript's ``JSON.stringify`` makes them), and NUL
    characters in strings U+FFFD (see `text`). The checks cost nothing when neither occurs."""
    try:
        out = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except ValueError:
        out = json.dumps(_finite(value), separators=(",", ":"), allow_nan=False)
    if "\\u0000" in out:
        out = _NUL_ESCAPE.sub(r"\1\\ufffd", out)
    if "\\ud" in out:
        out = _LONE_SURROGATE.sub(r"\1\\ufffd", out)
    return out


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def dumps(value: Any) -> str | None:
    """A nullable JSON column's value: None is SQL NULL, anything else `json_text`."""
    return None if value is None else json_text(value)


def loads(value: Any) -> Any:
    """Decode a JSON column stored as text (SQLite)."""
    return None if value is None else json.loads(value)


def as_is(value: Any) -> Any:
    """A JSON column psycopg has already decoded (PostgreSQL jsonb)."""
    return value


def check_columns(changes: Mapping[str, Any], allowed: frozenset[str], table: str) -> None:
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"cannot update {table} column(s) {', '.join(sorted(unknown))}")


Decode = Callable[[Any], Any]


class Row(Protocol):
    """A row read by column name: `sqlite3.Row` (SQLite) or a dict (psycopg's `dict_row`).
    The queries of both dialects name their columns alike (computed ones with ``AS``), so
    one decoder reads either."""

    def __getitem__(self, column: str, /) -> Any: ...


# Statuses by stored value: a dict lookup costs a twentieth of calling the enum, and these
# are decoded for every row the hot paths read.
RUN_STATUS: Mapping[str, RunStatus] = {status.value: status for status in RunStatus}
STEP_STATUS: Mapping[str, StepStatus] = {status.value: status for status in StepStatus}


def run_record(row: Row, decode: Decode = loads) -> RunRecord:
    parent = row["parent_run_id"]
    return RunRecord(
        id=str(row["id"]),
        workflow_name=row["workflow_name"],
        workflow_version=row["workflow_version"],
        status=RUN_STATUS[row["status"]],
        input=decode(row["input"]),
        outputs=decode(row["outputs"]),
        error=row["error"],
        idempotency_key=row["idempotency_key"],
        priority=row["priority"],
        parent_run_id=None if parent is None else str(parent),
        parent_step=row["parent_step"],
        deadline_at=row["deadline_at"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        trigger=row["trigger"],
        schedule_id=row["schedule_id"],
        schedule_tick=row["schedule_tick"],
        traceparent=row["traceparent"],
    )


def step_row(row: Row, decode: Decode = loads) -> StepRow:
    token = row["lease_token"]
    return StepRow(
        id=row["id"],
        run_id=str(row["run_id"]),
        step_id=row["step_id"],
        item_index=row["item_index"],
        status=STEP_STATUS[row["status"]],
        attempt=row["attempt"],
        available_at=row["available_at"],
        lease_owner=row["lease_owner"],
        lease_token=None if token is None else str(token),
        lease_expires_at=row["lease_expires_at"],
        state=decode(row["state"]),
        output=decode(row["output"]),
        error=row["error"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        history=decode(row["history"]),
    )


def claimed(row: Row, decode: Decode = loads) -> Claimed:
    """A claimed step row with the columns the claim adds: its run's ``workflow_name``,
    ``workflow_version``, ``run_input``, ``schedule_id`` and ``schedule_tick``, and
    ``claimed_from``, the status it left."""
    return Claimed(
        row=step_row(row, decode),
        workflow_name=row["workflow_name"],
        workflow_version=row["workflow_version"],
        run_input=decode(row["run_input"]),
        resumed=row["claimed_from"] == StepStatus.WAITING,
        schedule_id=row["schedule_id"],
        schedule_tick=row["schedule_tick"],
    )


def step_results(rows: Iterable[Row], decode: Decode = loads) -> dict[str, tuple[StepStatus, Any]]:
    return {row["step_id"]: (STEP_STATUS[row["status"]], decode(row["output"])) for row in rows}


SCHEDULE_UPDATABLE = ScheduleFields.__optional_keys__
SCHEDULE_TIMES = frozenset({"next_tick", "due_at", "last_tick"})


def schedule_row(row: Row, decode: Decode = loads) -> ScheduleRow:
    return ScheduleRow(
        workflow_name=row["workflow_name"],
        schedule_id=row["schedule_id"],
        spec=decode(row["spec"]),
        active=bool(row["active"]),
        paused=bool(row["paused"]),
        next_tick=row["next_tick"],
        due_at=row["due_at"],
        last_tick=row["last_tick"],
        buffered=list(decode(row["buffered"]) or []),
        fired=row["fired"],
        missed=row["missed"],
        skipped=row["skipped"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def declared_schedules(definition: dict[str, Any]) -> dict[str, str]:
    """``schedule id → its declaration as canonical JSON text`` of a workflow definition (its
    ``schedules`` list): equal text, unchanged schedule."""
    return {
        str(spec["id"]): json.dumps(spec, sort_keys=True, separators=(",", ":"))
        for spec in definition.get("schedules") or ()
    }


def workflow_record(row: Row, decode: Decode = loads) -> WorkflowRecord:
    return WorkflowRecord(
        name=row["name"],
        version=row["version"],
        digest=row["digest"],
        source=row["source"],
        definition=decode(row["definition"]),
        created_at=row["created_at"],
    )


def workflow_version(row: Row) -> WorkflowVersion:
    return WorkflowVersion(
        name=row["name"], version=row["version"], digest=row["digest"], created_at=row["created_at"]
    )


def instance(row: Row) -> Instance:
    return Instance(
        id=row["id"],
        host=row["host"],
        pid=row["pid"],
        version=row["version"],
        state=row["state"],
        started_at=row["started_at"],
        heartbeat_at=row["heartbeat_at"],
        heartbeat_timeout=row["heartbeat_timeout"],
    )


def log_line(row: Row) -> StoredLogLine:
    return StoredLogLine(
        id=row["id"],
        attempt=row["attempt"],
        stream=row["stream"],
        line=row["line"],
        created_at=row["created_at"],
    )


def place(row: Row) -> Place:
    step = row["step"]
    return Place(
        key=row["key"],
        run_id=str(row["run_id"]),
        step=step,
        step_id=row["step_id"],
        limit=row["lim"],
        holding=bool(row["holding"]),
        position=int(row["position"]),
        created_at=row["created_at"],
        held_at=row["held_at"],
    )
