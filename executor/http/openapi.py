"""The OpenAPI 3.1 document of the API, built from the same schemas that validate requests.

Each instance serves the document of its configuration: with an API token, every operation
but ``/health*`` needs the bearer token and lists 401; without one, nothing needs a token and
no operation lists 401.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from executor import __version__
from executor.http import schemas

COMPONENTS = {
    "Error": schemas.ERROR,
    "Health": schemas.HEALTH,
    "WorkflowRef": schemas.WORKFLOW_REF,
    "Workflow": schemas.WORKFLOW,
    "WorkflowList": schemas.WORKFLOW_LIST,
    "RunRequest": schemas.RUN_REQUEST,
    "BatchRequest": schemas.BATCH_REQUEST,
    "Batch": schemas.BATCH,
    "Run": schemas.RUN,
    "RunList": schemas.RUN_LIST,
    "SignalRequest": schemas.SIGNAL_REQUEST,
    "SignalAnswer": schemas.SIGNAL_ANSWER,
    "Logs": schemas.LOGS,
    "Schedule": schemas.SCHEDULE,
    "ScheduleList": schemas.SCHEDULE_LIST,
    "BackfillRequest": schemas.BACKFILL_REQUEST,
    "Backfill": schemas.BACKFILL,
    "RunCount": schemas.RUN_COUNT,
    "BulkCancelRequest": schemas.BULK_CANCEL_REQUEST,
    "BulkRetryRequest": schemas.BULK_RETRY_REQUEST,
    "Bulk": schemas.BULK,
    "WorkflowVersions": schemas.WORKFLOW_VERSIONS,
    "InstanceList": schemas.INSTANCE_LIST,
    "LlmCalls": schemas.LLM_CALLS,
    "ArtifactList": schemas.ARTIFACT_LIST,
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


_HEADERS = {
    401: {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    503: {
        "Retry-After": {"description": "Seconds to wait", "schema": {"type": "string", "pattern": "^[0-9]+$"}}
    },
}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Malformed body",
        401: "Missing or wrong bearer token",
        404: "No such run, workflow or step",
        409: "The action does not apply to the run's current state (error.status says which)",
        413: "Body over the size limit",
        415: "Wrong content type",
        422: "Invalid request (a body field or a parameter); error.details names every one",
        503: "The instance is draining; retry on another (Retry-After)",
    }
    answers = {str(code): _json("Error", text[code]) for code in (401, *codes)}
    for code, headers in _HEADERS.items():
        if str(code) in answers:
            answers[str(code)]["headers"] = headers
    return answers


def _param(
    name: str, where: str = "path", schema: dict[str, Any] | None = None, required: bool | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path" if required is None else required,
        "schema": schema or schemas.IDENTIFIER,
    }


RUN_ID = _param("id")
# The filter of GET /runs and GET /runs/count.
RUN_FILTER = [
    _param("workflow", "query", schemas.WORKFLOW_FILTER),
    _param("status", "query", schemas.STATUS_PARAM),
    _param("trigger", "query", schemas.TRIGGER_PARAM),
    _param("since", "query", schemas.SINCE_PARAM),
    _param("until", "query", schemas.UNTIL_PARAM),
    _param("parent", "query", schemas.PARENT_PARAM),
]
SCHEDULE_KEY = [_param("workflow"), _param("schedule")]


def _schedule_action(summary: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "parameters": SCHEDULE_KEY,
            "responses": {"200": _json("Schedule", "The schedule after the action"), **_errors(404, 422)},
        }
    }


def _bulk(action: str, summary: str, starts_work: bool) -> dict[str, Any]:
    request = "BulkCancelRequest" if action == "cancel" else "BulkRetryRequest"
    codes = (400, 413, 415, 422, 503) if starts_work else (400, 413, 415, 422)
    return {
        "post": {
            "summary": summary,
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(request)}}},
            "responses": {
                "200": _json("Bulk", "Dry run: how many runs it would act on"),
                "202": _json("Bulk", "Done: what it did to each run it selected"),
                **_errors(*codes),
            },
        }
    }


def _action(summary: str, starts_work: bool) -> dict[str, Any]:
    codes = (404, 409, 422, 503) if starts_work else (404, 409, 422)
    return {
        "post": {
            "summary": summary,
            "parameters": [RUN_ID],
            "responses": {"202": _json("Run", "The run after the action"), **_errors(*codes)},
        }
    }


def _download() -> dict[str, Any]:
    """GET and HEAD /runs/{id}/artifacts/{step}/{name}: the bytes, whole or one range."""
    string = {"schema": {"type": "string"}}
    headers = {
        "Content-Length": {"description": "Bytes in this answer", **string},
        "ETag": {"description": "The artifact's sha256, quoted", **string},
        "Accept-Ranges": {"description": "bytes", **string},
        "Content-Disposition": {"description": "attachment, with the name's last part", **string},
    }
    binary = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
    unsatisfiable = _json("Error", "The range starts past the end (Content-Range: bytes */SIZE)")
    unsatisfiable["headers"] = {"Content-Range": {"description": "bytes */SIZE", **string}}
    get: dict[str, Any] = {
        "summary": "Download an artifact, streamed",
        "description": "Request headers: `Range: bytes=A-B`, `bytes=A-` or `bytes=-N` asks for one "
        "range (206); a header asking for several ranges, or one that does not parse, gets the "
        "whole (200). `If-Range` with the ETag keeps the range only while the artifact is the "
        "same. `If-None-Match` with the ETag answers 304.",
        "parameters": [
            RUN_ID,
            _param("step"),
            _param("name", schema=schemas.ARTIFACT_NAME),
            _param("item", "query", schemas.ARTIFACT_ITEM_PARAM),
        ],
        "responses": {
            "200": {
                "description": "The artifact (Content-Type: its media type)",
                "headers": headers,
                "content": binary,
            },
            "206": {
                "description": "One range of it",
                "headers": {**headers, "Content-Range": {"description": "bytes A-B/SIZE", **string}},
                "content": binary,
            },
            "304": {"description": "If-None-Match holds its ETag", "headers": {"ETag": headers["ETag"]}},
            "416": unsatisfiable,
            "503": _json("Error", "This instance cannot reach the artifact's bytes (its --artifacts-dir)"),
            **_errors(404, 422),
        },
    }
    # HEAD: the status and headers GET would answer, no body (its bytes are not even read).
    head = copy.deepcopy(get)
    head["summary"] = "An artifact's headers: size, ETag, media type; no body"
    del head["responses"]["503"]
    for answer in head["responses"].values():
        answer.pop("content", None)
    return {"get": get, "head": head}


@cache
def document(secured: bool = True) -> dict[str, Any]:
    """The document; ``secured``: as an instance with an API token serves it."""
    full = _document()
    return full if secured else _without_security(full)


def _without_security(full: dict[str, Any]) -> dict[str, Any]:
    open_ = copy.deepcopy(full)
    del open_["security"], open_["components"]["securitySchemes"]
    for operations in open_["paths"].values():
        for operation in operations.values():
            operation.pop("security", None)
            operation["responses"].pop("401", None)
    return open_


def _document() -> dict[str, Any]:
    # Health routes answer without a token (load balancers have none): no security, no 401.
    health = {
        "get": {
            "security": [],
            "responses": {"200": _json("Health", "Serving"), "503": _json("Health", "Not serving")},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Executor",
            "version": __version__,
            "description": "Durable workflow executor. With an API token configured, every route except "
            "/health* needs `Authorization: Bearer <token>`.",
        },
        "components": {
            "schemas": COMPONENTS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/health": health,
            "/health/ready": health,
            "/health/live": {
                "get": {"security": [], "responses": {"200": _json("Health", "The process serves HTTP")}}
            },
            "/openapi.json": {
                "get": {
                    "responses": {
                        "200": {
                            "description": "This document",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        **_errors(),
                    }
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics of this instance (OpenMetrics when Accept asks for it)",
                    "responses": {
                        "200": {
                            "description": "The metrics in the Prometheus text exposition format",
                            "content": {
                                "text/plain": {"schema": {"type": "string"}},
                                "application/openmetrics-text": {"schema": {"type": "string"}},
                            },
                        },
                        **_errors(),
                    },
                }
            },
            "/workflows": {
                "post": {
                    "summary": "Register a workflow version (YAML or JSON)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/yaml": {"schema": {"type": "string"}},
                            "application/json": {"schema": {"type": "object"}},
                        },
                    },
                    "responses": {
                        "201": _json("WorkflowRef", "A new version"),
                        "200": _json("WorkflowRef", "The same definition was already this version"),
                        **_errors(400, 413, 415, 422),
                    },
                },
                "get": {
                    "summary": "The latest version of each workflow",
                    "responses": {"200": _json("WorkflowList", "Workflows"), **_errors()},
                },
            },
            "/workflows/{name}": {
                "get": {
                    "summary": "The latest version of a workflow",
                    "parameters": [_param("name")],
                    "responses": {"200": _json("Workflow", "The workflow"), **_errors(404, 422)},
                }
            },
            "/workflows/{name}/versions": {
                "get": {
                    "summary": "Every version of a workflow, newest first (no definitions)",
                    "parameters": [_param("name")],
                    "responses": {"200": _json("WorkflowVersions", "The versions"), **_errors(404, 422)},
                }
            },
            "/workflows/{name}/versions/{version}": {
                "get": {
                    "summary": "One version of a workflow",
                    "parameters": [
                        _param("name"),
                        _param("version", schema=schemas.VERSION_PARAM),
                    ],
                    "responses": {"200": _json("Workflow", "The workflow version"), **_errors(404, 422)},
                }
            },
            "/runs": {
                "post": {
                    "summary": "Start a run",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("RunRequest")}},
                    },
                    "responses": {
                        "201": _json("Run", "Started"),
                        "200": _json("Run", "The run already started with this idempotency_key"),
                        **_errors(400, 404, 413, 415, 422, 503),
                    },
                },
                "get": {
                    "summary": "Runs, newest first (every filter given holds)",
                    "parameters": [
                        *RUN_FILTER,
                        _param("limit", "query", schemas.LIMIT_PARAM),
                        _param("cursor", "query", schemas.CURSOR_PARAM),
                    ],
                    "responses": {"200": _json("RunList", "A page of runs"), **_errors(422)},
                },
            },
            # Listed before /runs/{id}, which their paths would match too.
            "/runs/count": {
                "get": {
                    "summary": "How many runs the filters select (as GET /runs would list them all)",
                    "parameters": RUN_FILTER,
                    "responses": {"200": _json("RunCount", "The count"), **_errors(422)},
                }
            },
            "/runs/batch": {
                "post": {
                    "summary": "Start up to 1,000 runs in one transaction, each with its own result",
                    "description": "A body that breaks the schema (an item's field included) is refused "
                    "whole, nothing started. Otherwise every run gets a result, in order: 201 started, 200 "
                    "the run its idempotency_key started (in this request or before), or 404/422 (an "
                    "unknown workflow or version, an input its workflow refuses) for that run alone, the "
                    "others started all the same. A failure of the transaction starts none (503).",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("BatchRequest")}},
                    },
                    "responses": {
                        "200": _json("Batch", "One result per run, in the request's order"),
                        **_errors(400, 413, 415, 422, 503),
                    },
                }
            },
            "/runs/bulk/cancel": _bulk(
                "cancel", "Cancel every unfinished run the filter selects, created before the request", False
            ),
            "/runs/bulk/retry": _bulk(
                "retry", "Retry every failed run the filter selects, created before the request", True
            ),
            "/runs/{id}": {
                "get": {
                    "summary": "A run with every step",
                    "parameters": [RUN_ID],
                    "responses": {"200": _json("Run", "The run"), **_errors(404, 422)},
                }
            },
            "/runs/{id}/cancel": _action("Cancel a run", starts_work=False),
            "/runs/{id}/pause": _action("Pause a run", starts_work=False),
            "/runs/{id}/resume": _action("Resume a paused run", starts_work=True),
            "/runs/{id}/retry": _action("Retry a failed run from its failed steps", starts_work=True),
            "/runs/{id}/signals/{name}": {
                "post": {
                    "summary": "Send a signal to a run",
                    "parameters": [RUN_ID, _param("name", schema=schemas.SIGNAL_NAME)],
                    "requestBody": {
                        "required": False,
                        "content": {"application/json": {"schema": _ref("SignalRequest")}},
                    },
                    "responses": {
                        "202": _json("SignalAnswer", "Kept, and delivered if a step waited"),
                        **_errors(400, 404, 409, 413, 415, 422),
                    },
                }
            },
            "/runs/{id}/llm-calls": {
                "get": {
                    "summary": "The run's calls to models (llm steps), oldest first, with their tokens and cost",
                    "parameters": [
                        RUN_ID,
                        _param("after", "query", schemas.AFTER_PARAM),
                        _param("limit", "query", schemas.LLM_CALLS_LIMIT),
                    ],
                    "responses": {"200": _json("LlmCalls", "A page of calls"), **_errors(404, 422)},
                }
            },
            "/runs/{id}/trigger": {
                "post": {
                    "summary": "Wake the claim loop for this run now",
                    "parameters": [RUN_ID],
                    "responses": {"202": _json("Run", "The run"), **_errors(404, 422)},
                }
            },
            "/runs/{id}/artifacts": {
                "get": {
                    "summary": "The files the run's steps left (a for_each step's per item)",
                    "parameters": [RUN_ID],
                    "responses": {"200": _json("ArtifactList", "The run's artifacts"), **_errors(404, 422)},
                }
            },
            "/runs/{id}/artifacts/{step}/{name}": _download(),
            "/instances": {
                "get": {
                    "summary": "The instances registered on the database, with their heartbeats and the steps each runs",
                    "responses": {"200": _json("InstanceList", "Instances, oldest first"), **_errors()},
                }
            },
            "/schedules": {
                "get": {
                    "summary": "The schedules of every workflow's latest version, with their next ticks",
                    "parameters": [_param("workflow", "query", schemas.WORKFLOW_FILTER)],
                    "responses": {"200": _json("ScheduleList", "Schedules"), **_errors(422)},
                }
            },
            "/schedules/{workflow}/{schedule}": {
                "get": {
                    "summary": "One schedule",
                    "parameters": SCHEDULE_KEY,
                    "responses": {"200": _json("Schedule", "The schedule"), **_errors(404, 422)},
                }
            },
            "/schedules/{workflow}/{schedule}/pause": _schedule_action(
                "Stop firing (ticks meanwhile are not caught up)"
            ),
            "/schedules/{workflow}/{schedule}/resume": _schedule_action("Fire again from the next tick"),
            "/schedules/{workflow}/{schedule}/trigger": {
                "post": {
                    "summary": "Start a run of the schedule now, whatever its overlap policy",
                    "parameters": SCHEDULE_KEY,
                    "responses": {"201": _json("Run", "Started"), **_errors(404, 422, 503)},
                }
            },
            "/schedules/{workflow}/{schedule}/backfill": {
                "post": {
                    "summary": "List the ticks of a time range and, unless dry_run, start their runs",
                    "parameters": SCHEDULE_KEY,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("BackfillRequest")}},
                    },
                    "responses": {
                        "200": _json("Backfill", "Dry run: the ticks"),
                        "202": _json("Backfill", "Started or queued"),
                        **_errors(400, 404, 413, 415, 422, 503),
                    },
                }
            },
            "/runs/{id}/steps/{step}/cancel": {
                "post": {
                    "summary": "Cancel a step that is not final, or one of its for_each items (item); "
                    "the run goes on, the step's dependents follow their trigger rules",
                    "parameters": [
                        RUN_ID,
                        _param("step"),
                        _param("item", "query", schemas.CANCEL_ITEM_PARAM),
                    ],
                    "responses": {"202": _json("Run", "The run after the cancel"), **_errors(404, 409, 422)},
                }
            },
            "/runs/{id}/steps/{step}/retry": {
                "post": {
                    "summary": "Run a failed, cancelled or skipped step again with every step that depends "
                    "on it (a failed run runs again)",
                    "parameters": [RUN_ID, _param("step")],
                    "responses": {
                        "202": _json("Run", "The run after the retry"),
                        **_errors(404, 409, 422, 503),
                    },
                }
            },
            "/runs/{id}/steps/{step}/logs": {
                "get": {
                    "summary": "A step's log lines; follow=true streams them (Server-Sent Events) until the step ends",
                    "parameters": [
                        RUN_ID,
                        _param("step"),
                        _param("item", "query", schemas.ITEM_PARAM),
                        _param("after", "query", schemas.AFTER_PARAM),
                        _param("follow", "query", schemas.FOLLOW_PARAM),
                    ],
                    "responses": {
                        "200": {
                            "description": "Log lines (JSON), or a text/event-stream with follow=true",
                            "content": {
                                "application/json": {"schema": _ref("Logs")},
                                "text/event-stream": {},
                            },
                        },
                        **_errors(404, 422),
                    },
                }
            },
        },
    }
