"""Routes: read schedules, pause and resume them, trigger a run now, backfill past ticks."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse

from executor.http import body, params, schemas, views
from executor.http.api import api, route
from executor.http.problems import InvalidRequest
from executor.scheduler import Scheduler
from executor.workflow.schedules import zone


def _scheduler(request: Request) -> Scheduler:
    scheduler = api(request).scheduler
    assert scheduler is not None
    return scheduler


def _key(request: Request) -> tuple[str, str]:
    return params.path(request, "workflow"), params.path(request, "schedule")


async def list_schedules(request: Request) -> JSONResponse:
    workflow = params.query(request, "workflow", schemas.WORKFLOW_FILTER)
    found = await _scheduler(request).list(workflow)
    return JSONResponse({"schedules": [views.schedule(view) for view in found]})


async def one(request: Request) -> JSONResponse:
    return JSONResponse(views.schedule(await _scheduler(request).get(*_key(request))))


async def pause(request: Request) -> JSONResponse:
    return JSONResponse(views.schedule(await _scheduler(request).pause(*_key(request))))


async def resume(request: Request) -> JSONResponse:
    return JSONResponse(views.schedule(await _scheduler(request).resume(*_key(request))))


async def trigger(request: Request) -> JSONResponse:
    api(request).refuse_new_work_while_draining()
    run = await _scheduler(request).trigger(*_key(request))
    return JSONResponse(views.run(run), 201)


async def backfill(request: Request) -> JSONResponse:
    current = api(request)
    workflow, schedule_id = _key(request)
    data = await body.read_json(request, current.max_body)
    schemas.validate(schemas.BACKFILL_REQUEST, data)
    dry_run = bool(data.get("dry_run", False))
    if not dry_run:
        current.refuse_new_work_while_draining()
    scheduler = _scheduler(request)
    view = await scheduler.get(workflow, schedule_id)
    start = _time(data["from"], "from", view.spec.timezone)
    end = _time(data["to"], "to", view.spec.timezone)
    if end < start:
        raise InvalidRequest("to is before from", [{"path": "$.to", "message": "is before from"}])
    result = await scheduler.backfill(
        workflow, schedule_id, start, end, dry_run=dry_run, overlap=data.get("overlap", "buffer_all")
    )
    return JSONResponse(
        {
            "ticks": [views.iso(tick) for tick in result.ticks],
            "dry_run": dry_run,
            "started": result.started,
            "buffered": result.buffered,
            "existing": result.existing,
        },
        200 if dry_run else 202,
    )


EARLIEST = 0.0  # 1970-01-01T00:00:00Z
LATEST = datetime(9000, 1, 1, tzinfo=UTC).timestamp()


def _time(text: str, field: str, timezone: str) -> float:
    """An ISO 8601 time; one without an offset is read in the schedule's zone."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(
            f"{field} is not an ISO 8601 time",
            [
                {
                    "path": f"$.{field}",
                    "message": f"{text!r} is not an ISO 8601 time (e.g. 2026-11-01T00:00:00Z)",
                }
            ],
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(timezone))
    seconds = moment.timestamp()
    # Ticks near the ends of the calendar (years 1 and 9999) cannot be computed or shown.
    if not EARLIEST <= seconds <= LATEST:
        raise InvalidRequest(
            f"{field} is out of range",
            [{"path": f"$.{field}", "message": f"{text!r} is not between 1970-01-01 and 9000-01-01 (UTC)"}],
        )
    return seconds


routes = [
    route("/schedules", GET=list_schedules),
    route("/schedules/{workflow}/{schedule}", GET=one),
    route("/schedules/{workflow}/{schedule}/pause", POST=pause),
    route("/schedules/{workflow}/{schedule}/resume", POST=resume),
    route("/schedules/{workflow}/{schedule}/trigger", POST=trigger),
    route("/schedules/{workflow}/{schedule}/backfill", POST=backfill),
]
