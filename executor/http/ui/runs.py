"""The runs page: newest first, filtered, paged by a keyset cursor so that a page never shifts
while runs arrive; its table refreshes itself (htmx) to show live status."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from executor.http import params, schemas
from executor.http.api import api
from executor.http.problems import InvalidRequest
from executor.http.ui.render import STOP_POLLING, html_errors, page
from executor.statuses import RunStatus

PAGE_SIZE = 50
TRIGGERS = ("api", "cli", "schedule", "backfill", "parent")


@dataclass(frozen=True)
class RunsQuery:
    """The runs page's filters, as the address bar carries them (shareable links)."""

    workflow: str = ""
    status: str = ""
    trigger: str = ""
    since: str = ""  # ISO date-time, as typed or as <input type=datetime-local> sends it
    until: str = ""
    cursor: str = ""

    def params(self, **changes: str) -> str:
        fields = {**self.__dict__, **changes}
        return urlencode({key: value for key, value in fields.items() if value})

    def filters(self) -> dict[str, str]:
        """The filters that select runs (no cursor), for display and for bulk actions."""
        return {key: value for key, value in self.__dict__.items() if value and key != "cursor"}


def parse_time(text: str, field: str, errors: dict[str, str]) -> float | None:
    """An ISO date-time (a bare one, as datetime-local sends it, is UTC) as epoch seconds,
    from 1970 to the end of 9999 (an offset can take a date past either end)."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        errors[field] = f"{text!r} is not a date and time (e.g. 2026-12-01T10:00)"
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    seconds = value.timestamp()
    if not 0 <= seconds < params.LATEST:
        errors[field] = f"{text!r} is not between 1970 and the end of 9999 (UTC)"
        return None
    return seconds


def query_of(request: Request) -> RunsQuery:
    given = request.query_params
    return RunsQuery(**{name: given.get(name, "").strip() for name in RunsQuery.__dataclass_fields__})


def criteria(query: RunsQuery, errors: dict[str, str]) -> dict[str, Any]:
    """The engine's keyword filters for ``query``; what cannot be read goes to ``errors``
    (field → message) and selects nothing rather than everything."""
    found: dict[str, Any] = {}
    if query.workflow:
        try:
            found["workflow"] = params.text("workflow", query.workflow, schemas.WORKFLOW_FILTER)
        except InvalidRequest as exc:
            errors["workflow"] = exc.message
    if query.status:
        try:
            found["status"] = RunStatus(query.status)
        except ValueError:
            errors["status"] = f"{query.status!r} is not a run status"
    if query.trigger:
        if query.trigger in TRIGGERS:
            found["trigger"] = query.trigger
        else:
            errors["trigger"] = f"{query.trigger!r} is not a trigger"
    since = parse_time(query.since, "since", errors)
    until = parse_time(query.until, "until", errors)
    if since is not None:
        found["since"] = since
    if until is not None:
        found["until"] = until
    return found


def decode_cursor(text: str, errors: dict[str, str]) -> tuple[float, str] | None:
    """The API's cursor (the same links page both)."""
    if not text:
        return None
    try:
        return params.decode_cursor(text)
    except InvalidRequest:
        errors["cursor"] = "this page's link is not valid; start again from the newest runs"
        return None


@html_errors
async def list_page(request: Request) -> Response:
    query = query_of(request)
    errors: dict[str, str] = {}
    found = criteria(query, errors)
    before = decode_cursor(query.cursor, errors)
    runs: list[Any] = []
    more = False
    if not errors:
        engine = api(request).engine
        listed = await engine.list_runs(**found, before=before, limit=PAGE_SIZE + 1)
        runs, more = listed[:PAGE_SIZE], len(listed) > PAGE_SIZE
    older = (
        replace(query, cursor=params.encode_cursor(runs[-1].created_at, runs[-1].id)).params()
        if more
        else None
    )
    if request.query_params.get("fragment") == "rows":
        # Polled every few seconds by every open runs page: only what the rows show. A query
        # refused now is refused on every poll: the refusal stops the polling.
        return page(
            request,
            "runs_rows.html",
            status=STOP_POLLING if errors else 200,
            query=query,
            runs=runs,
            older=older,
            newest=replace(query, cursor="").params(),
        )
    # The names the workflow filter suggests: every workflow's latest definition is read.
    workflows = [record.name for record in await api(request).engine.list_workflows()]
    return page(
        request,
        "runs.html",
        status=422 if errors else 200,
        query=query,
        errors=errors,
        runs=runs,
        older=older,
        newest=replace(query, cursor="").params(),
        statuses=[status.value for status in RunStatus],
        triggers=TRIGGERS,
        workflows=workflows,
    )


routes = [Route("/ui/runs", list_page, methods=["GET"])]
