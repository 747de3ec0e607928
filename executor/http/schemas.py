"""JSON Schemas of request and response bodies: the OpenAPI document is built from them,
and request bodies are validated against the same ones (one source of truth)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from executor.artifacts.collect import MAX_NAME
from executor.engine.batch import MAX_BATCH
from executor.engine.bulk import APPLIES_TO, MAX_LISTED, Action
from executor.http.problems import InvalidRequest
from executor.statuses import RunStatus, StepStatus
from executor.store.records import TRIGGERS

if TYPE_CHECKING:
    from jsonschema import ValidationError

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
LLM_CALLS_LIMIT = {**LIMIT_PARAM, "default": 1000, "description": "capped at 1000"}
ITEM_PARAM = {"type": "integer", "minimum": -1, "maximum": INT32_MAX, "description": "-1: the step itself"}
CANCEL_ITEM_PARAM = {
    "type": "integer",
    "minimum": 0,
    "maximum": INT32_MAX,
    "description": "one for_each item (its index) instead of the whole step",
}
AFTER_PARAM = {"type": "integer", "minimum": 0, "maximum": 2**62}
VERSION_PARAM = {"type": "integer", "minimum": 1, "maximum": INT32_MAX}
FOLLOW_PARAM = {"type": "boolean", "default": False}
# A run filter's: which run's child runs (an id that is no run's selects nothing), what
# started them, and a creation time range (an RFC 3339 date-time, `date_time`).
PARENT_PARAM: dict[str, Any] = {
    "type": "string",
    "maxLength": 64,
    "pattern": NO_NUL,
    "description": "runs started by a step of this run",
}
TRIGGER_PARAM = {"type": "string", "enum": list(TRIGGERS), "description": "what started the run"}
DATE_TIME: dict[str, Any] = {
    "type": "string",
    "format": "date-time",
    "maxLength": 64,
    "description": "RFC 3339, with its offset: 2026-12-01T10:00:00Z",
}
SINCE_PARAM = {
    **DATE_TIME,
    "description": "runs created at or after this time (RFC 3339: 2026-12-01T10:00:00Z)",
}
UNTIL_PARAM = {**DATE_TIME, "description": "runs created before this time (RFC 3339: 2026-12-01T10:00:00Z)"}

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

BATCH_REQUEST = {
    "type": "object",
    "required": ["runs"],
    "additionalProperties": False,
    "properties": {
        "runs": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_BATCH,
            "items": RUN_REQUEST,
            "description": f"The runs to start (1 to {MAX_BATCH}), each as POST /runs takes it",
        }
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


def _bulk_request(action: Action) -> dict[str, Any]:
    statuses = sorted(status.value for status in APPLIES_TO[action])
    text = {"type": ["string", "null"], "minLength": 1, "maxLength": 64, "pattern": NO_NUL}
    return {
        "type": "object",
        "required": ["filter"],
        "additionalProperties": False,
        "properties": {
            "filter": {
                "type": "object",
                "additionalProperties": False,
                "description": "The runs to act on: every field given holds (null or absent: any). "
                f"Only runs in a status {action} applies to are selected ({', '.join(statuses)}), "
                "created before the request.",
                "properties": {
                    "workflow": text,
                    "status": {"type": ["string", "null"], "enum": [*statuses, None]},
                    "trigger": {"type": ["string", "null"], "enum": [*TRIGGERS, None]},
                    "since": {
                        **DATE_TIME,
                        "type": ["string", "null"],
                        "description": SINCE_PARAM["description"],
                    },
                    "until": {
                        **DATE_TIME,
                        "type": ["string", "null"],
                        "description": UNTIL_PARAM["description"],
                    },
                    "parent": {**text, "description": PARENT_PARAM["description"]},
                },
            },
            "dry_run": {"type": "boolean", "default": False, "description": "Only count the runs"},
        },
    }


BULK_CANCEL_REQUEST = _bulk_request("cancel")
BULK_RETRY_REQUEST = _bulk_request("retry")

SIGNAL_REQUEST = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "payload": ANY,
        # The same key sends the signal (of this name, to this run) once, however often sent.
        "idempotency_key": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": NO_NUL},
    },
}

# The error object of every error answer (and of a refused run of a batch).
ERROR_OBJECT: dict[str, Any] = {
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
ERROR = {"type": "object", "required": ["error"], "properties": {"error": ERROR_OBJECT}}

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

# Runs kept by status; a status without runs is left out.
RUN_COUNTS = {
    "type": "object",
    "propertyNames": {"enum": [status.value for status in RunStatus]},
    "additionalProperties": {"type": "integer", "minimum": 1},
}

WORKFLOW_LIST = {
    "type": "object",
    "required": ["workflows"],
    "properties": {
        "workflows": {
            "type": "array",
            "items": {
                **WORKFLOW,
                "required": [*WORKFLOW["required"], "runs"],
                "properties": {
                    **WORKFLOW["properties"],  # type: ignore[dict-item]
                    "runs": {**RUN_COUNTS, "description": "Its runs kept, by status (of every version)"},
                },
            },
        }
    },
}

WORKFLOW_VERSIONS = {
    "type": "object",
    "required": ["versions"],
    "properties": {
        "versions": {
            "type": "array",
            "description": "Newest first",
            "items": {
                "type": "object",
                "required": ["version", "digest", "created_at"],
                "properties": {
                    "version": {"type": "integer"},
                    "digest": {"type": "string"},
                    "created_at": TIME,
                },
            },
        }
    },
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
        "iteration": {
            "type": "integer",
            "description": "The iteration it belongs to (a `repeat` loop, a `goto`, a step retry); "
            "absent: the first (0).",
        },
        "child_run_id": {"type": "string", "description": "The child run of a repeated `workflow` step."},
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

WAITING_FOR = {
    "type": "object",
    "description": "The key of mutual exclusion it waits for (a step's mutex or semaphore, a "
    "run's concurrency key): its limit, the place in line (1: next) and who holds it now. "
    "Present only while it waits.",
    "required": ["kind", "key", "limit", "position", "holders"],
    "properties": {
        "kind": {"type": "string", "enum": ["mutex", "semaphore", "concurrency"]},
        "key": {"type": "string"},
        "limit": {"type": "integer", "minimum": 1},
        "position": {"type": "integer", "minimum": 1},
        "since": TIME,
        "holders": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"run_id": {"type": "string"}, "step": {"type": ["string", "null"]}},
            },
        },
    },
}

STEP = {
    "type": "object",
    "required": ["id", "status", "attempts"],
    "properties": {
        **ITEM["properties"],  # type: ignore[dict-item]
        "waiting_for": WAITING_FOR,
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

_TOKENS = {"type": "integer", "minimum": 0}
_USAGE = {
    "input_tokens": _TOKENS,
    "output_tokens": _TOKENS,
    "cached_tokens": {**_TOKENS, "description": "Of the input tokens, those the server had cached."},
    "reasoning_tokens": {**_TOKENS, "description": "Of the output tokens, those spent reasoning."},
}
LLM_TOTALS = {
    "type": "object",
    "description": "What the run's calls to models (llm steps) add up to, failed calls included; "
    "cost_usd sums the calls whose model has a price (--llm-prices). GET /runs/{id} only.",
    "required": ["calls", *_USAGE, "cost_usd"],
    "properties": {"calls": _TOKENS, **_USAGE, "cost_usd": {"type": "number", "minimum": 0}},
}
LLM_CALL = {
    "type": "object",
    "required": ["id", "step", "item", "attempt", "model", *_USAGE, "cost_usd", "seconds", "outcome"],
    "properties": {
        "id": {"type": "integer"},
        "step": {"type": "string"},
        "item": {"type": ["integer", "null"], "description": "The for_each item's index; null: the step's."},
        "attempt": {"type": "integer"},
        "model": {"type": "string", "description": "As the step named it."},
        **_USAGE,
        "cost_usd": {"type": ["number", "null"], "description": "null: no price known for the model."},
        "seconds": {"type": "number", "description": "From the request sent to the reply read."},
        "outcome": {"type": "string", "enum": ["succeeded", "failed"]},
        "error": {"type": ["string", "null"]},
        "time": TIME,
    },
}
LLM_CALLS = {
    "type": "object",
    "required": ["calls", "next"],
    "properties": {
        "calls": {"type": "array", "items": LLM_CALL},
        "next": {"type": "integer", "description": "The last call's id: the next page's `after`."},
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
        "llm": LLM_TOTALS,
        "waiting_for": WAITING_FOR,
        "holds": {
            "type": "array",
            "description": "The keys of mutual exclusion the run (step null) or its steps hold now.",
            "items": {
                "type": "object",
                "properties": {"key": {"type": "string"}, "step": {"type": ["string", "null"]}},
            },
        },
    },
}

RUN_LIST = {
    "type": "object",
    "required": ["runs", "next_cursor"],
    "properties": {"runs": {"type": "array", "items": RUN}, "next_cursor": {"type": ["string", "null"]}},
}

BATCH = {
    "type": "object",
    "required": ["results"],
    "properties": {
        "results": {
            "type": "array",
            "description": "One per run requested, in the request's order",
            "items": {
                "type": "object",
                "required": ["index", "status"],
                "properties": {
                    "index": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "Its place in the request's runs",
                    },
                    "status": {
                        "type": "integer",
                        "minimum": 200,
                        "maximum": 599,
                        "description": "As POST /runs would answer it: 201 started, 200 the run its "
                        "idempotency_key started (in this request or before), 404 no such workflow or "
                        "version, 422 an input its workflow refuses",
                    },
                    "run": RUN,
                    "error": ERROR_OBJECT,
                },
            },
        }
    },
}

RUN_COUNT = {
    "type": "object",
    "required": ["count"],
    "properties": {"count": {"type": "integer", "minimum": 0}},
}

BULK = {
    "type": "object",
    "required": ["action", "dry_run", "matched"],
    "description": "A dry run answers action, dry_run and matched; otherwise every field is there.",
    "properties": {
        "action": {"type": "string", "enum": list(APPLIES_TO)},
        "dry_run": {"type": "boolean"},
        "matched": {"type": "integer", "minimum": 0, "description": "Runs selected (dry run: that would be)"},
        "changed": {"type": "integer", "minimum": 0, "description": "Runs the action was applied to"},
        "skipped": {
            "type": "integer",
            "minimum": 0,
            "description": "Runs selected that had left the action's statuses when their turn came",
        },
        "run_ids": {
            "type": "array",
            "items": {"type": "string"},
            "maxItems": MAX_LISTED,
            "description": f"The runs changed, newest first (the first {MAX_LISTED})",
        },
        "failed": {
            "type": "array",
            "maxItems": MAX_LISTED,
            "description": f"Runs the action failed on, with why (the first {MAX_LISTED})",
            "items": {
                "type": "object",
                "required": ["run_id", "error"],
                "properties": {"run_id": {"type": "string"}, "error": {"type": "string"}},
            },
        },
    },
}

INSTANCE_STATES = ["idle", "running", "draining", "stopped"]

INSTANCE_LIST = {
    "type": "object",
    "required": ["instances"],
    "properties": {
        "instances": {
            "type": "array",
            "description": "Every instance registered on the database, oldest first, stopped ones included",
            "items": {
                "type": "object",
                "required": [
                    "id",
                    "host",
                    "pid",
                    "version",
                    "state",
                    "started_at",
                    "heartbeat_at",
                    "heartbeat_age_seconds",
                    "heartbeat_timeout",
                    "steps_in_flight",
                ],
                "properties": {
                    "id": {"type": "string"},
                    "host": {"type": "string"},
                    "pid": {"type": "integer"},
                    "version": {"type": "string", "description": "The Executor version it runs"},
                    "state": {"type": "string", "enum": INSTANCE_STATES},
                    "started_at": TIME,
                    "heartbeat_at": TIME,
                    "heartbeat_age_seconds": {
                        "type": ["number", "null"],
                        "minimum": 0,
                        "description": "Seconds since its last heartbeat, as this instance's clock reads now",
                    },
                    "heartbeat_timeout": {
                        "type": ["number", "null"],
                        "description": "Seconds without a heartbeat after which its peers take it for dead "
                        "(null: a version that does not record it)",
                    },
                    "steps_in_flight": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "Step attempts running under a lease it holds",
                    },
                },
            },
        }
    },
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

# An artifact (`executor.artifacts.artifact_json`); its name is a relative path of at most
# `MAX_NAME` characters, which the download route takes as the rest of its path.
ARTIFACT_NAME: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_NAME,
    "pattern": NO_NUL,
    "description": "the artifact's name, a relative path: its slashes as they are (or %2F)",
}
ARTIFACT_ITEM_PARAM = {
    "type": "integer",
    "minimum": 0,
    "maximum": INT32_MAX,
    "description": "the artifact of this for_each item (its index); absent: of the step itself",
}
ARTIFACT = {
    "type": "object",
    "required": ["step", "item", "name", "size", "sha256", "media_type", "attempt", "created_at", "url"],
    "properties": {
        "step": {"type": "string"},
        "item": {"type": ["integer", "null"], "description": "The for_each item's index; null: the step's."},
        "name": {"type": "string", "description": "A relative path: report.html, dist/app.whl."},
        "size": {"type": "integer", "minimum": 0, "description": "Bytes."},
        "sha256": {"type": "string", "description": "Hex digest of the bytes; the download's ETag."},
        "media_type": {"type": "string", "description": "Guessed from the name's extension."},
        "attempt": {"type": "integer", "description": "The attempt that left it."},
        "created_at": TIME,
        "url": {"type": "string", "description": "Where to download it (a path on this API)."},
    },
}
ARTIFACT_LIST = {
    "type": "object",
    "required": ["artifacts"],
    "properties": {"artifacts": {"type": "array", "items": ARTIFACT}},
}

SIGNAL_ANSWER = {
    "type": "object",
    "required": ["run", "signal", "delivered"],
    "properties": {"run": {"type": "string"}, "signal": {"type": "string"}, "delivered": {"type": "boolean"}},
}

HEALTH = {"type": "object", "required": ["state"], "properties": {"state": {"type": "string"}}}


_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def date_time(text: str) -> float | None:
    """An RFC 3339 ``date-time`` (the document's format) as Unix seconds; None when ``text``
    is not one. Exactly what the format admits, no more: years 0000 to 9999, a leap second
    (``:60``, the instant the next minute begins), any number of fraction digits, ``Z``
    or an offset; no time without its offset, no date alone."""
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    fraction, sign, offset_hours, offset_minutes = match.groups()[6:]
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if not 1 <= month <= 12 or not 1 <= day <= _MONTH_DAYS[month - 1] + (leap and month == 2):
        return None
    if hour > 23 or minute > 59 or second > 60:
        return None
    offset = 0
    if sign is not None:
        if int(offset_hours) > 23 or int(offset_minutes) > 59:
            return None
        offset = (int(offset_hours) * 3600 + int(offset_minutes) * 60) * (1 if sign == "+" else -1)
    seconds = _days(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset
    return seconds + (float(fraction) if fraction else 0.0)


def _days(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to this proleptic Gregorian date (H. Hinnant's days_from_civil:
    year 0 too, which `datetime` cannot hold)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def plain_batch(value: Any) -> bool:
    """Whether ``value`` surely meets `BATCH_REQUEST`, checked without the validator: a list of
    runs each with only the fields of `RUN_REQUEST`, of their exact types (an integer as an
    int, not 2.0), within its bounds. The validator costs 26 µs a run, a good part of what
    starting a batched run costs; False says nothing: the validator decides, and names what
    is wrong."""
    if type(value) is not dict or value.keys() != {"runs"}:
        return False
    runs = value["runs"]
    return type(runs) is list and 1 <= len(runs) <= MAX_BATCH and all(map(_plain_run, runs))


def _plain_run(run: Any) -> bool:
    if type(run) is not dict or "workflow" not in run:
        return False
    for name, field in run.items():
        bounds = _RUN_FIELDS.get(name)
        if bounds is None:
            return False
        kind = bounds["type"]
        if kind == "string":
            ok = (
                type(field) is str
                and bounds["minLength"] <= len(field) <= bounds["maxLength"]
                and "\0" not in field
            )
        elif kind == "integer":
            ok = type(field) is int and bounds["minimum"] <= field <= bounds["maximum"]
        else:
            ok = kind == "object" and type(field) is dict
        if not ok:
            return False
    return True


# The fields `_plain_run` checks, with their keywords (tests/unit/test_plain_batch.py holds
# it to knowing every keyword they use).
_RUN_FIELDS: dict[str, dict[str, Any]] = RUN_REQUEST["properties"]  # type: ignore[assignment]


def validate(schema: dict[str, Any], value: Any, what: str = "body") -> None:
    """Raise `InvalidRequest` naming every field of ``value`` that breaks ``schema``."""
    from jsonschema import Draft202012Validator  # here: slow to import, and not needed to start

    errors = sorted(Draft202012Validator(schema).iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        details = [{"path": error.json_path, "message": _message(error)} for error in errors]
        raise InvalidRequest(
            f"the {what} is invalid: " + "; ".join(f"{d['path']}: {d['message']}" for d in details), details
        )


def _message(error: ValidationError) -> str:
    if error.validator == "pattern" and error.validator_value == NO_NUL:
        return NO_NUL_MESSAGE
    if error.validator in ("minItems", "maxItems") and isinstance(error.instance, list):
        # Not jsonschema's, which quotes the whole array (a batch of 1,001 runs).
        bound = "at least" if error.validator == "minItems" else "at most"
        return f"must hold {bound} {error.validator_value} items; it holds {len(error.instance)}"
    return str(error.message)
