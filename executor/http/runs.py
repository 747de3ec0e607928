"""Routes: start runs, list and count them, act on them (one, or all a filter selects),
signal them, follow their logs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse

from executor.engine.batch import Submission, Submitted
from executor.engine.bulk import Action
from executor.errors import ExecutorError, InputInvalid, WorkflowNotFound
from executor.http import body, errors, params, schemas, views
from executor.http.api import Endpoint, api, route
from executor.http.problems import InvalidRequest, NotFound
from executor.statuses import STEP_FINAL, RunStatus
from executor.store.records import TRIGGERS, Origin, RunFilter, StepRow
from executor.tracing import parse_traceparent

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
FOLLOW_POLL = 0.2
MAX_LLM_CALLS = 1000  # per page of GET /runs/{id}/llm-calls


async def create(request: Request) -> JSONResponse:
    current = api(request)
    current.refuse_new_work_while_draining()
    data = await body.read_json(request, current.max_body)
    schemas.validate(schemas.RUN_REQUEST, data)
    # JSON Schema counts 2.0 as an integer; the store gets the int.
    version = data.get("version")
    run, created = await current.engine.submit(
        data["workflow"],
        data.get("input") or {},
        version=None if version is None else int(version),
        idempotency_key=data.get("idempotency_key"),
        priority=int(data.get("priority", 0)),
        origin=Origin(trigger="api", traceparent=_traceparent(request)),
    )
    return JSONResponse(views.run(run), 201 if created else 200)


async def create_batch(request: Request) -> JSONResponse:
    """Start up to `MAX_BATCH` runs in one transaction. A body that breaks the request's schema
    (an item's field included) is refused whole, as POST /runs refuses one; then each run gets
    its own result, in order: started, the run of its idempotency key, or refused alone (an
    unknown workflow or version, an input its workflow refuses) while the others start."""
    current = api(request)
    current.refuse_new_work_while_draining()
    data = await body.read_json(request, current.max_body)
    if not schemas.plain_batch(data):
        schemas.validate(schemas.BATCH_REQUEST, data)
    submissions = [
        Submission(
            item["workflow"],
            item.get("input") or {},
            version=None if item.get("version") is None else int(item["version"]),
            idempotency_key=item.get("idempotency_key"),
            priority=int(item.get("priority", 0)),
        )
        for item in data["runs"]
    ]
    origin = Origin(trigger="api", traceparent=_traceparent(request))
    answers = await current.engine.submit_many(submissions, origin=origin)
    return JSONResponse(
        {"results": [_result(n, s, a) for n, (s, a) in enumerate(zip(submissions, answers, strict=True))]}
    )


def _result(index: int, submission: Submission, answer: Submitted) -> dict[str, Any]:
    if not isinstance(answer, ExecutorError):
        run, created = answer
        return {"index": index, "status": 201 if created else 200, "run": views.run(run)}
    where = f"$.runs[{index}]"
    if isinstance(answer, InputInvalid):  # its paths, from the input's root, from the body's
        answer = InputInvalid(
            [(where + ".input" + path.removeprefix("$"), why) for path, why in answer.problems]
        )
    error = errors.error_body(answer)
    if isinstance(answer, WorkflowNotFound):
        field = "workflow" if submission.version is None else "version"
        error["details"] = [{"path": f"{where}.{field}", "message": answer.message}]
    return {"index": index, "status": answer.http_status, "error": error}


def _traceparent(request: Request) -> str | None:
    """The W3C ``traceparent`` the client sent, to become the run's parent span (a value that
    is not valid is dropped, as the Trace Context specification says)."""
    parsed = parse_traceparent(request.headers.get("traceparent"))
    return None if parsed is None else str(parsed)


def _cursor(value: str) -> tuple[float, str]:
    return params.decode_cursor(value)


def _run_status(text: str | None) -> RunStatus | None:
    if text is None:
        return None
    try:
        return RunStatus(text)
    except ValueError:
        raise InvalidRequest(
            f"status must be one of {', '.join(schemas.RUN_STATUSES)}",
            [{"path": "status", "message": f"{text!r} is not a run state"}],
        ) from None


def _trigger(text: str | None) -> str | None:
    if text is None:
        return None
    if text not in TRIGGERS:
        raise InvalidRequest(
            f"trigger must be one of {', '.join(TRIGGERS)}",
            [{"path": "trigger", "message": f"{text!r} is not a trigger"}],
        )
    return text


def _time(text: str | None, path: str) -> float | None:
    if text is None:
        return None
    seconds = schemas.date_time(text)
    if seconds is None:
        name = path.rsplit(".", 1)[-1]
        raise InvalidRequest(
            f"{name} is not an RFC 3339 date-time",
            [
                {
                    "path": path,
                    "message": f"{text!r} is not a date-time with its offset, e.g. 2026-12-01T10:00:00Z",
                }
            ],
        )
    return seconds


def _query_filter(request: Request) -> RunFilter:
    """The runs the query selects. Like the status, an empty trigger, since or until is
    refused (the document's enum and format say so); an empty workflow or parent is none."""
    given = request.query_params
    return RunFilter(
        workflow=params.query(request, "workflow", schemas.WORKFLOW_FILTER),
        status=_run_status(given.get("status")),
        trigger=_trigger(given.get("trigger")),
        since=_time(given.get("since"), "since"),
        until=_time(given.get("until"), "until"),
        parent=params.query(request, "parent", schemas.PARENT_PARAM),
    )


async def list_runs(request: Request) -> JSONResponse:
    # A larger limit is capped rather than refused: a client asking for "everything" gets pages.
    limit = min(params.query_int(request, "limit", schemas.LIMIT_PARAM, DEFAULT_LIMIT), MAX_LIMIT)
    wanted = _query_filter(request)
    cursor = params.query(request, "cursor", schemas.CURSOR_PARAM)
    before = _cursor(cursor) if cursor else None
    runs = await api(request).engine.list_runs(wanted, before=before, limit=limit + 1)
    page, more = runs[:limit], len(runs) > limit
    next_cursor = params.encode_cursor(page[-1].created_at, page[-1].id) if more else None
    return JSONResponse({"runs": [views.run(run) for run in page], "next_cursor": next_cursor})


async def count(request: Request) -> JSONResponse:
    return JSONResponse({"count": await api(request).engine.count_runs(_query_filter(request))})


_BULK_REQUESTS: dict[Action, dict[str, Any]] = {
    "cancel": schemas.BULK_CANCEL_REQUEST,
    "retry": schemas.BULK_RETRY_REQUEST,
}


def _bulk(action: Action) -> Endpoint:
    """Act on every run the body's filter selects. A filter status the action does not
    apply to (cancel a finished run, retry one that did not fail) is refused with 422 by
    the request's schema, whose enum lists the statuses it applies to."""

    async def act(request: Request) -> JSONResponse:
        current = api(request)
        data = await body.read_json(request, current.max_body)
        schemas.validate(_BULK_REQUESTS[action], data)
        given = data["filter"]
        status = given.get("status")
        wanted = RunFilter(
            workflow=given.get("workflow"),
            status=None if status is None else RunStatus(status),
            trigger=given.get("trigger"),
            since=_time(given.get("since"), "$.filter.since"),
            until=_time(given.get("until"), "$.filter.until"),
            parent=given.get("parent"),
        )
        dry_run = bool(data.get("dry_run", False))
        if action == "retry" and not dry_run:
            current.refuse_new_work_while_draining()  # as a single retry: it starts work
        result = await current.engine.bulk(action, wanted, dry_run=dry_run)
        return JSONResponse(views.bulk(result), 200 if dry_run else 202)

    act.__name__ = f"bulk_{action}"
    return act


async def get(request: Request) -> JSONResponse:
    engine = api(request).engine
    run, rows = await engine.get(params.path(request, "id"))
    places, holders = await engine.places(run)  # what it holds and waits for (exclusion)
    answer = views.with_places(views.run(run, rows), places, holders)
    answer["llm"] = views.llm_totals(await engine.llm_totals(run.id))  # one indexed query
    return JSONResponse(answer)


def _action(name: str, starts_work: bool) -> Any:
    async def act(request: Request) -> JSONResponse:
        current = api(request)
        if starts_work:
            current.refuse_new_work_while_draining()
        run_id = params.path(request, "id")
        await getattr(current.engine, name)(run_id)
        run, rows = await current.engine.get(run_id)
        return JSONResponse(views.run(run, rows), 202)

    act.__name__ = name
    return act


async def signal(request: Request) -> JSONResponse:
    current = api(request)
    data = await body.read_json(request, current.max_body, empty={})
    schemas.validate(schemas.SIGNAL_REQUEST, data)
    run_id, name = params.path(request, "id"), params.path(request, "name", schemas.SIGNAL_NAME)
    delivered = await current.engine.signal(
        run_id, name, data.get("payload"), key=data.get("idempotency_key")
    )
    return JSONResponse({"run": run_id, "signal": name, "delivered": delivered}, 202)


async def trigger(request: Request) -> JSONResponse:
    current = api(request)
    run, rows = await current.engine.get(params.path(request, "id"))
    current.engine.trigger()
    return JSONResponse(views.run(run, rows), 202)


async def _step_row(request: Request) -> StepRow:
    run_id, step_id = params.path(request, "id"), params.path(request, "step")
    item = params.query_int(request, "item", schemas.ITEM_PARAM, -1)
    _, rows = await api(request).engine.get(run_id)
    for row in rows:
        if row.step_id == step_id and row.item_index == item:
            return row
    what = f"step {step_id}" + (f" item {item}" if item >= 0 else "")
    raise NotFound(f"run {run_id} has no {what}")


async def logs(request: Request) -> Any:
    row = await _step_row(request)
    after = params.query_int(request, "after", schemas.AFTER_PARAM, 0)
    engine = api(request).engine
    if not params.query_bool(request, "follow"):
        lines = await engine.read_logs(row.id, after=after, limit=1000)
        return JSONResponse(
            {"lines": [views.log_line(x) for x in lines], "next": lines[-1].id if lines else after}
        )

    async def events() -> AsyncIterator[str]:
        last = after
        while True:
            lines = await engine.read_logs(row.id, after=last, limit=1000)
            for line in lines:
                last = line.id
                yield f"id: {line.id}\nevent: line\ndata: {json.dumps(views.log_line(line))}\n\n"
            if lines:
                continue
            current = await engine.get(row.run_id)
            status = next(r.status for r in current[1] if r.id == row.id)
            if status in STEP_FINAL:
                # One last read: lines flushed just before the step ended.
                for line in await engine.read_logs(row.id, after=last, limit=1000):
                    last = line.id
                    yield f"id: {line.id}\nevent: line\ndata: {json.dumps(views.log_line(line))}\n\n"
                yield f"event: end\ndata: {json.dumps({'status': status})}\n\n"
                return
            await asyncio.sleep(FOLLOW_POLL)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


async def llm_calls(request: Request) -> JSONResponse:
    after = params.query_int(request, "after", schemas.AFTER_PARAM, 0)
    limit = min(params.query_int(request, "limit", schemas.LLM_CALLS_LIMIT, MAX_LLM_CALLS), MAX_LLM_CALLS)
    calls = await api(request).engine.llm_calls(params.path(request, "id"), after=after, limit=limit)
    answer = {"calls": [views.llm_call(call) for call in calls], "next": calls[-1].id if calls else after}
    return JSONResponse(answer)


routes = [
    route("/runs", GET=list_runs, POST=create),
    # Before /runs/{id}: "count", "batch" and "bulk" are no run ids.
    route("/runs/count", GET=count),
    route("/runs/batch", every_method=True, POST=create_batch),  # not GET /runs/{id}
    route("/runs/bulk/cancel", POST=_bulk("cancel")),
    route("/runs/bulk/retry", POST=_bulk("retry")),
    route("/runs/{id}", GET=get),
    route("/runs/{id}/cancel", POST=_action("cancel", starts_work=False)),
    route("/runs/{id}/pause", POST=_action("pause", starts_work=False)),
    route("/runs/{id}/resume", POST=_action("resume", starts_work=True)),
    route("/runs/{id}/retry", POST=_action("retry", starts_work=True)),
    route("/runs/{id}/signals/{name}", POST=signal),
    route("/runs/{id}/trigger", POST=trigger),
    route("/runs/{id}/llm-calls", GET=llm_calls),
    route("/runs/{id}/steps/{step}/logs", GET=logs),
]
