"""The schedules page: every schedule's state, coming ticks and recent runs, and what an
operator does to one (pause, resume, trigger now, backfill a range after a dry run).

The operations are the scheduler's, as the JSON API calls them (executor/http/schedules.py);
their errors (a schedule gone, an instance draining, a range too large) are shown on the page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from executor.durations import format_duration
from executor.errors import ExecutorError
from executor.http import params, schemas
from executor.http.api import api
from executor.http.problems import InvalidRequest
from executor.http.schedules import _time as read_time
from executor.http.ui.forms import read_form
from executor.http.ui.render import html_errors, page
from executor.scheduler import Scheduler, ScheduleView
from executor.store.records import RunRecord
from executor.workflow.schedules import Schedule

RECENT = 5  # runs shown per schedule
SCANNED = 100  # runs of a workflow read per trigger to find each schedule's recent ones
TICKS_SHOWN = 200  # of a dry run's ticks (up to the scheduler's 1,000)
NOTICES = {"paused": "Paused", "resumed": "Resumed"}


def in_zone(tick: float, spec: Schedule) -> str:
    """A tick as the schedule's zone writes it (``2026-12-02 02:30 CET``): how cron reads it."""
    return spec.local(tick).strftime("%Y-%m-%d %H:%M:%S %Z").replace(":00 ", " ", 1)


def _scheduler(request: Request) -> Scheduler:
    scheduler = api(request).scheduler
    if scheduler is None:  # the app always has one; a page says so rather than fail
        raise ExecutorError("this instance has no scheduler")
    return scheduler


async def _recent(request: Request, views: list[ScheduleView]) -> dict[tuple[str, str], list[RunRecord]]:
    """The last `RECENT` runs each schedule started (its ticks and its backfills)."""
    engine = api(request).engine
    found: dict[tuple[str, str], list[RunRecord]] = {}
    for workflow in sorted({view.row.workflow_name for view in views}):
        runs = [
            run
            for trigger in ("schedule", "backfill")
            for run in await engine.list_runs(workflow=workflow, trigger=trigger, limit=SCANNED)
        ]
        runs.sort(key=lambda run: (run.created_at, run.id), reverse=True)
        for run in runs:
            if run.schedule_id is not None:
                kept = found.setdefault((workflow, run.schedule_id), [])
                if len(kept) < RECENT:
                    kept.append(run)
    return found


def _key(request: Request) -> tuple[str, str]:
    """The schedule the path names, its parts checked as the API checks them."""
    return params.path(request, "workflow"), params.path(request, "schedule")


async def _list(request: Request, *, done: str = "", error: str = "", status: int = 200) -> Response:
    given = request.query_params.get("workflow", "").strip()
    workflow = params.text("workflow", given, schemas.WORKFLOW_FILTER) or None
    views = await _scheduler(request).list(workflow)
    # What the redirect after an action says was done, to a schedule shown here (a link
    # cannot make the page announce anything else).
    named = request.query_params.get("schedule", "")
    known = {f"{view.row.workflow_name}/{view.row.schedule_id}" for view in views}
    notice = f"{NOTICES[done]} {named}." if done in NOTICES and named in known else ""
    return page(
        request,
        "schedules.html",
        status=status,
        workflow=workflow or "",
        views=views,
        recent=await _recent(request, views),
        notice=notice,
        error=error,
        every=format_duration,
        local=in_zone,
    )


@html_errors
async def list_page(request: Request) -> Response:
    return await _list(request, done=request.query_params.get("done", ""))


def _back(request: Request, workflow: str, schedule_id: str, done: str) -> str:
    """Back to the list the action came from, saying what was done."""
    query = {"done": done, "schedule": f"{workflow}/{schedule_id}"}
    if request.query_params.get("workflow"):
        query["workflow"] = request.query_params["workflow"]
    return f"/ui/schedules?{urlencode(query)}#schedule-{quote(workflow)}-{quote(schedule_id)}"


Operation = Callable[[Scheduler, str, str], Awaitable[Any]]


def _action(done: str, operation: Operation) -> Callable[[Request], Awaitable[Response]]:
    @html_errors
    async def act(request: Request) -> Response:
        workflow, schedule_id = _key(request)
        try:
            await operation(_scheduler(request), workflow, schedule_id)
        except ExecutorError as exc:
            return await _list(request, error=exc.message, status=exc.http_status)
        return RedirectResponse(_back(request, workflow, schedule_id, done), status_code=303)

    act.__name__ = done
    return act


async def _pause(scheduler: Scheduler, workflow: str, schedule_id: str) -> None:
    await scheduler.pause(workflow, schedule_id)


async def _resume(scheduler: Scheduler, workflow: str, schedule_id: str) -> None:
    await scheduler.resume(workflow, schedule_id)


@html_errors
async def trigger(request: Request) -> Response:
    """Start a run now, and show it."""
    workflow, schedule_id = _key(request)
    try:
        api(request).refuse_new_work_while_draining()
        run = await _scheduler(request).trigger(workflow, schedule_id)
    except ExecutorError as exc:
        return await _list(request, error=exc.message, status=exc.http_status)
    return RedirectResponse(f"/ui/runs/{run.id}", status_code=303)


@html_errors
async def backfill(request: Request) -> Response:
    """GET: the form. POST: a dry run listing the ticks, whose confirmation (``confirm``)
    starts them, as ``POST /schedules/{workflow}/{schedule}/backfill`` does."""
    workflow, schedule_id = _key(request)
    scheduler = _scheduler(request)
    view = await scheduler.get(workflow, schedule_id)
    texts: dict[str, str] = {"from": "", "to": "", "overlap": "buffer_all"}
    context: dict[str, Any] = {"ticks": None, "result": None}
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        form = await read_form(request)
        texts = {name: form.get(name, default).strip() for name, default in texts.items()}
        confirmed = form.get("confirm") == "yes"
        try:
            start, end = _range(texts, view)
            if confirmed:
                api(request).refuse_new_work_while_draining()
            result = await scheduler.backfill(
                workflow, schedule_id, start, end, dry_run=not confirmed, overlap=texts["overlap"]
            )
        except InvalidRequest as exc:
            errors = {str(d["path"]).removeprefix("$."): str(d["message"]) for d in exc.details or []}
            errors = errors or {"": exc.message}
            status = exc.http_status
        except ExecutorError as exc:  # too many ticks, draining, the schedule gone
            errors, status = {"": exc.message}, exc.http_status
        else:
            context = {"ticks": result.ticks, "result": result if confirmed else None}
    return page(
        request,
        "schedule_backfill.html",
        status=status,
        view=view,
        texts=texts,
        errors=errors,
        shown=TICKS_SHOWN,
        every=format_duration,
        local=in_zone,
        **context,
    )


def _range(texts: dict[str, str], view: ScheduleView) -> tuple[float, float]:
    """The range as the API reads it: its request schema, then each time in the schedule's
    zone unless it says its offset."""
    missing = [
        {"path": f"$.{name}", "message": "is required (a date and time)"}
        for name in ("from", "to")
        if not texts[name]
    ]
    if missing:
        raise InvalidRequest("from and to are required", missing)
    schemas.validate(schemas.BACKFILL_REQUEST, {**texts, "dry_run": True})
    start = read_time(texts["from"], "from", view.spec.timezone)
    end = read_time(texts["to"], "to", view.spec.timezone)
    if end < start:
        raise InvalidRequest("to is before from", [{"path": "$.to", "message": "is before from"}])
    return start, end


PREFIX = "/ui/schedules/{workflow}/{schedule}"
routes = [
    Route("/ui/schedules", list_page, methods=["GET"]),
    Route(PREFIX + "/pause", _action("paused", _pause), methods=["POST"]),
    Route(PREFIX + "/resume", _action("resumed", _resume), methods=["POST"]),
    Route(PREFIX + "/trigger", trigger, methods=["POST"]),
    Route(PREFIX + "/backfill", backfill, methods=["GET", "POST"]),
]
