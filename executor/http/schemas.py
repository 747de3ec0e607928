"""JSON Schemas of request and response bodies: the OpenAPI document is built from them,
and request bodies are validated against the same ones (one source of truth)."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from executor.http.problems import InvalidRequest
from executor.statuses import RunStatus, StepStatus
from executor.store.records import TRIGGERS

TIME = {"type": ["string", "null"], "format": "date-time"}
ANY: dict[str, Any] = {}

# Integers the client sends are bounded to what both stores hold (PostgreSQL's `integer` is
# 32-bit; SQLite refuses anything over 64 bits), so an out-of-range value is a 422, not a 500.
INT32_MAX = 2**31 - 1
# PostgreSQL's text holds no NUL character (SQLite's does): identifiers with one are refused.
NO_NUL = "^[^\\u0000]*$"
NO_NUL_MESSAGE = "must not contain the NUL character (U+0000)"

# Path and query parameters: the routes enforce exactly these bounds (params.py), and the
# OpenAPI document states them. Identifiers (run ids, workflow names, step ids) are at most
# 64 characters, as the workflow language and the run request allow; signal names and
# cursors, free text, at most 1,000.
IDENTIFIER: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": NO_NUL}
SIGNAL_NAME: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 1000, "pattern": NO_NUL}
WORKFLOW_FILTER: dict[str, Any] = {"type": "string", "maxLength": 64, "pattern": NO_NUL}
CURSOR_PARAM: dict[str, Any] = {
    "type": "string",
    "maxLength": 1000,
    "pattern": NO_NUL,
    "description": "a next_cursor",
}
LIMIT_PARAM = {
    "type": "integer",
    "minimum": 1,
    "maximum": INT32_MAX,
    "default": 50,
    "description": "capped at 500",
}
ITEM_PARAM = {"type": "integer", "minimum": -1, "maximum": INT32_MAX, "description": "-1: the step itself"}
AFTER_PARAM = {"type": "integer", "minimum": 0, "maximum": 2**62}
VERSION_PARAM = {"type": "integer", "minimum": 1, "maximum": INT32_MAX}
FOLLOW_PARAM = {"type": "boolean", "default": False}

RUN_REQUEST = {
    "type": "object",
    "required": ["workflow"],
    "additionalProperties": False,
    "properties": {
        "workflow": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": NO_NUL},
        "version": {"type": "integer", "minimum": 1, "maximum": INT32_MAX},
        "input": {"type": "object"},
        "idempotency_key": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": NO_NUL},
        "priority": {"type": "integer", "minimum": -1000, "maximum": 1000},
    },
}

BACKFILL_REQUEST = {
    "type": "object",
    "required": ["from", "to"],
    "additionalProperties": False,
    "properties": {
        "from": {
            "type": "string",
            "maxLength": 64,
            "description": "ISO 8601 time, first tick included; without an offset, in the schedule's zone",
        },
        "to": {"type": "string", "maxLength": 64, "description": "ISO 8601 time, last tick included"},
        "dry_run": {"type": "boolean", "description": "Only list the ticks"},
        "overlap": {
            "type": "string",
            "enum": ["buffer_all", "allow_all"],
            "description": "buffer_all (default): one run after another; allow_all: all at once",
        },
    },
}

SIGNAL_REQUEST = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"payload": ANY},
}

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "status": {"type": "string"},
                "details": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["path", "message"],
                        "properties": {
                            "path": {"type": "string"},
                            "line": {"type": ["integer", "null"]},
                            "message": {"type": "string"},
                        },
                    },
                },
            },
        }
    },
}

WORKFLOW_REF = {
    "type": "object",
    "required": ["name", "version", "warnings"],
    "properties": {
        "name": {"type": "string"},
        "version": {"type": "integer"},
        "warnings": {
            "type": "array",
            "description": "What is risky in the definition (registered all the same), e.g. a run "
            "input pasted into a shell script; `line` for YAML definitions only",
            "items": {
                "type": "object",
                "required": ["path", "line", "message"],
                "properties": {
                    "path": {"type": "string"},
                    "line": {"type": ["integer", "null"]},
                    "message": {"type": "string"},
                },
            },
        },
    },
}

WORKFLOW = {
    "type": "object",
    "required": ["name", "version", "digest", "created_at", "definition", "source"],
    "properties": {
        "name": {"type": "string"},
        "version": {"type": "integer"},
        "digest": {"type": "string"},
        "created_at": TIME,
        "description": {"type": "string"},
        "definition": {"type": "object"},
        "source": {"type": "string"},
    },
}

WORKFLOW_LIST = {
    "type": "object",
    "required": ["workflows"],
    "properties": {"workflows": {"type": "array", "items": WORKFLOW}},
}

RUN_STATUSES = [status.value for status in RunStatus]
STEP_STATUSES = [status.value for status in StepStatus]
STATUS_PARAM = {"type": "string", "enum": RUN_STATUSES}

# One ended attempt of a step (see `executor.engine.history`).
ATTEMPT = {
    "type": "object",
    "required": ["attempt", "outcome", "instance", "started_at", "ended_at"],
    "properties": {
        "attempt": {"type": "integer"},
        "outcome": {"type": "string", "enum": ["succeeded", "failed", "lost"]},
        "instance": {"type": ["string", "null"], "description": "The instance that ran (or lost) it."},
        "reason": {"type": "string", "description": "Why it was lost: `lease expired` or `drain`."},
        "error": {"type": "string"},
        "started_at": TIME,
        "ended_at": TIME,
    },
}

ITEM = {
    "type": "object",
    "required": ["index", "status", "attempts"],
    "properties": {
        "index": {"type": "integer"},
        "status": {"type": "string", "enum": STEP_STATUSES},
        "attempts": {"type": "integer", "description": "Attempts started, lost ones included."},
        "started_at": TIME,
        "finished_at": TIME,
        "output": ANY,
        "error": {"type": ["string", "null"]},
        "history": {
            "type": "array",
            "items": ATTEMPT,
            "description": "The attempts that ended, oldest first.",
        },
    },
}

STEP = {
    "type": "object",
    "required": ["id", "status", "attempts"],
    "properties": {
        **ITEM["properties"],  # type: ignore[dict-item]
        "id": {"type": "string"},
        "items": {"type": "array", "items": ITEM},
    },
}

TRIGGER = {
    "type": "object",
    "required": ["type"],
    "description": "What started the run; a schedule's runs name the schedule and the tick "
    "(its nominal fire time, which templates see as `schedule.tick`).",
    "properties": {
        "type": {"type": "string", "enum": list(TRIGGERS)},
        "schedule": {"type": "string"},
        "tick": TIME,
    },
}

RUN = {
    "type": "object",
    "required": ["id", "workflow", "version", "status", "input", "created_at"],
    "properties": {
        "id": {"type": "string"},
        "workflow": {"type": "string"},
        "version": {"type": "integer"},
        "status": {"type": "string", "enum": RUN_STATUSES},
        "input": ANY,
        "outputs": ANY,
        "error": {"type": ["string", "null"]},
        "idempotency_key": {"type": ["string", "null"]},
        "priority": {"type": "integer"},
        "parent_run_id": {"type": ["string", "null"]},
        "trigger": TRIGGER,
        "created_at": TIME,
        "started_at": TIME,
        "finished_at": TIME,
        "steps": {"type": "array", "items": STEP},
    },
}

RUN_LIST = {
    "type": "object",
    "required": ["runs", "next_cursor"],
    "properties": {"runs": {"type": "array", "items": RUN}, "next_cursor": {"type": ["string", "null"]}},
}

SCHEDULE = {
    "type": "object",
    "required": ["workflow", "id", "timezone", "overlap", "paused", "next_ticks"],
    "properties": {
        "workflow": {"type": "string"},
        "id": {"type": "string"},
        "cron": {"type": ["string", "null"]},
        "every": {"type": ["number", "null"], "description": "Seconds"},
        "timezone": {"type": "string"},
        "input": {"type": "object"},
        "overlap": {
            "type": "string",
            "enum": ["skip", "buffer_one", "buffer_all", "cancel_other", "allow_all"],
        },
        "catchup_window": {"type": "number", "description": "Seconds"},
        "jitter": {"type": "number", "description": "Seconds"},
        "paused": {"type": "boolean"},
        "next_tick": TIME,
        "last_tick": TIME,
        "next_ticks": {"type": "array", "items": TIME, "description": "The next 10 ticks"},
        "buffered": {"type": "array", "items": TIME, "description": "Ticks waiting for the running run"},
        "fired": {"type": "integer", "description": "Ticks that started a run"},
        "missed": {"type": "integer", "description": "Ticks older than the catch-up window when handled"},
        "skipped": {"type": "integer", "description": "Ticks the overlap policy skipped"},
    },
}

SCHEDULE_LIST = {
    "type": "object",
    "required": ["schedules"],
    "properties": {"schedules": {"type": "array", "items": SCHEDULE}},
}

BACKFILL = {
    "type": "object",
    "required": ["ticks", "dry_run", "started", "buffered", "existing"],
    "properties": {
        "ticks": {"type": "array", "items": TIME},
        "dry_run": {"type": "boolean"},
        "started": {"type": "integer"},
        "buffered": {"type": "integer"},
        "existing": {"type": "integer", "description": "Ticks that already had a run"},
    },
}

LOG_LINE = {
    "type": "object",
    "required": ["id", "attempt", "stream", "line", "time"],
    "properties": {
        "id": {"type": "integer"},
        "attempt": {"type": "integer"},
        "stream": {"type": "string", "enum": ["stdout", "stderr", "system"]},
        "line": {"type": "string"},
        "time": TIME,
    },
}

LOGS = {
    "type": "object",
    "required": ["lines", "next"],
    "properties": {"lines": {"type": "array", "items": LOG_LINE}, "next": {"type": "integer"}},
}

SIGNAL_ANSWER = {
    "type": "object",
    "required": ["run", "signal", "delivered"],
    "properties": {"run": {"type": "string"}, "signal": {"type": "string"}, "delivered": {"type": "boolean"}},
}

HEALTH = {"type": "object", "required": ["state"], "properties": {"state": {"type": "string"}}}


def validate(schema: dict[str, Any], value: Any, what: str = "body") -> None:
    """Raise `InvalidRequest` naming every field of ``value`` that breaks ``schema``."""
    errors = sorted(Draft202012Validator(schema).iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        details = [{"path": error.json_path, "message": _message(error)} for error in errors]
        raise InvalidRequest(
            f"the {what} is invalid: " + "; ".join(f"{d['path']}: {d['message']}" for d in details), details
        )


def _message(error: ValidationError) -> str:
    if error.validator == "pattern" and error.validator_value == NO_NUL:
        return NO_NUL_MESSAGE
    return str(error.message)
