"""Cancel or retry every run a filter selects (``/ui/runs/bulk?action=cancel&<runs filters>``,
linked from the runs page): a confirmation page with the exact number of runs and the filter
in words, then the engine's bulk action and its result.

The confirmation fixes ``until`` at its own time (a hidden field carries it): runs that
arrive after it was shown are not swept in by the confirming POST. Runs that finished in
between are left alone (the engine skips runs no longer in a status the action applies
to), and the result says when the count differs from the one confirmed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from executor.engine.bulk import APPLIES_TO, Action
from executor.http import params, schemas
from executor.http.api import api
from executor.http.problems import InvalidRequest
from executor.http.ui.forms import read_form
from executor.http.ui.render import html_errors, page
from executor.http.ui.runs import TRIGGERS, criteria, query_of
from executor.statuses import RunStatus
from executor.store.records import RunFilter

ACTIONS: tuple[Action, ...] = ("cancel", "retry")
CONFIRMED = {"minimum": 0, "maximum": 2**62}  # the count of runs the confirmation showed
VERBS = {"cancel": "Cancel", "retry": "Retry"}


def _action(text: str, errors: dict[str, str]) -> Action:
    for action in ACTIONS:
        if text == action:
            return action
    errors["action"] = (
        f"{text!r} is not a bulk action (cancel or retry)" if text else "choose cancel or retry"
    )
    return "cancel"


def applies_to(action: Action) -> list[str]:
    return sorted(status.value for status in APPLIES_TO[action])


@html_errors
async def confirm(request: Request) -> Response:
    """GET: how many runs the action will change, and which: nothing changes yet."""
    query = query_of(request)
    errors: dict[str, str] = {}
    action = _action(request.query_params.get("action", ""), errors)
    found = criteria(query, errors)
    if errors:
        return page(request, "bulk.html", status=422, errors=errors, action=action, query=query, count=0)
    now = time.time()
    until = min(found.pop("until", math.inf), now)
    wanted = RunFilter(**found, until=until)
    counted = await api(request).engine.bulk(action, wanted, dry_run=True)
    return page(
        request,
        "bulk.html",
        errors={},
        action=action,
        verb=VERBS[action],
        query=query,
        wanted=wanted,
        count=counted.matched,
        statuses=applies_to(action),
    )


def _time(form: Mapping[str, str], name: str, errors: dict[str, str], required: bool = False) -> float | None:
    """A time the confirmation page wrote (Unix seconds), in the range its filters allow."""
    text = str(form.get(name, "")).strip()
    if not text:
        if required:
            errors[name] = f"{name} is missing: start again from the runs page"
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value < params.LATEST:  # NaN too
        errors[name] = f"{text!r} is not a time in seconds from 1970 to 9999"
        return None
    return value


def _form_filter(form: Mapping[str, str], errors: dict[str, str]) -> RunFilter:
    """The filter the confirmation page carried (its times as Unix seconds)."""
    workflow = str(form.get("workflow", "")) or None
    if workflow is not None:
        try:
            params.text("workflow", workflow, schemas.WORKFLOW_FILTER)
        except InvalidRequest as exc:
            errors["workflow"] = exc.message
    status_text = str(form.get("status", ""))
    status = None
    if status_text:
        try:
            status = RunStatus(status_text)
        except ValueError:
            errors["status"] = f"{status_text!r} is not a run status"
    trigger = str(form.get("trigger", "")) or None
    if trigger is not None and trigger not in TRIGGERS:
        errors["trigger"] = f"{trigger!r} is not a trigger"
    since = _time(form, "since", errors)
    until = _time(form, "until", errors, required=True)
    return RunFilter(workflow=workflow, status=status, trigger=trigger, since=since, until=until)


def _confirmed(form: Mapping[str, str], errors: dict[str, str]) -> int:
    try:
        return params.integer("confirmed", str(form.get("confirmed", "")), CONFIRMED)
    except InvalidRequest:
        errors["confirmed"] = "the confirmed count is missing: start again from the runs page"
        return 0


@html_errors
async def perform(request: Request) -> Response:
    """POST (from the confirmation page): act on the runs, say what happened."""
    current = api(request)
    form = await read_form(request)
    errors: dict[str, str] = {}
    action = _action(str(form.get("action", "")), errors)
    wanted = _form_filter(form, errors)
    confirmed = _confirmed(form, errors)
    if errors:
        return page(
            request, "bulk.html", status=422, errors=errors, action=action, query=query_of(request), count=0
        )
    if action == "retry":
        current.refuse_new_work_while_draining()  # as a single retry: it starts work
    result = await current.engine.bulk(action, wanted)
    return page(
        request,
        "bulk_done.html",
        action=action,
        verb=VERBS[action],
        wanted=wanted,
        confirmed=confirmed,
        result=result,
        statuses=applies_to(action),
    )


routes = [Route("/ui/runs/bulk", confirm, methods=["GET"]), Route("/ui/runs/bulk", perform, methods=["POST"])]
