"""One step of a run (``/ui/runs/{id}/steps/{step}``, ``?item=N`` for one item of a for_each):
its attempts with their errors, its output, its definition, its logs (followed live by
static/run.js over the API's event stream), and a for_each step's items a page at a time
(``?items_page=N``, ``?items_status=failed``): never all of them at once. Its actions, cancel
(the step or the item) and retry (the step), call the engine as the JSON API's step routes
do, and are shown only where they apply."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from executor.engine import signal_items
from executor.engine.operators import RETRIED, RETRIED_IN
from executor.http import params, schemas
from executor.http.api import api
from executor.http.problems import InvalidRequest, NotFound
from executor.http.ui import progress
from executor.http.ui.render import html_errors, page, polled
from executor.http.ui.run import LIVE_EVERY, Notice, clipped_json
from executor.statuses import RUN_FINAL
from executor.store.records import StepRow

ITEMS_PAGE = 100
LOG_LINES = 1000  # lines rendered with the page; the rest arrive over the event stream
PAGE_PARAM = {"type": "integer", "minimum": 1, "maximum": 10**9}


def _items_status(request: Request) -> str:
    text = request.query_params.get("items_status", "")
    if text and text not in progress.STATUS_ORDER:
        raise InvalidRequest(
            f"items_status must be one of {', '.join(progress.STATUS_ORDER)}",
            [{"path": "items_status", "message": f"{text!r} is not a step status"}],
        )
    return text


async def _load(request: Request) -> dict[str, Any]:
    run_id, step_id = params.path(request, "id"), params.path(request, "step")
    item = params.query_int(request, "item", schemas.ITEM_PARAM, -1)
    number = params.query_int(request, "items_page", PAGE_PARAM, 1)
    only = _items_status(request)
    engine = api(request).engine
    run, rows = await engine.get(run_id)
    row = next((r for r in rows if r.step_id == step_id and r.item_index == item), None)
    if row is None:
        what = f"step {step_id}" + (f" item {item}" if item >= 0 else "")
        raise NotFound(f"run {run_id} has no {what}")
    items = sorted(
        (r for r in rows if r.step_id == step_id and r.item_index >= 0), key=lambda r: r.item_index
    )
    counts = {status: 0 for status in progress.STATUS_ORDER}
    for entry in items:
        counts[entry.status.value] += 1
    chosen = [r for r in items if r.status.value == only] if only else items
    pages = max(1, -(-len(chosen) // ITEMS_PAGE))
    number = min(number, pages)
    shown = chosen[(number - 1) * ITEMS_PAGE : number * ITEMS_PAGE] if item == -1 else []
    output, output_clipped = clipped_json(row.output)
    base = {"item": str(item)} if item >= 0 else {}

    def link(**changes: Any) -> str:
        query = {**base, "items_page": number, "items_status": only, **changes}
        return urlencode({key: value for key, value in query.items() if value not in ("", None, 1)})

    state = (
        run.status, row.status, row.attempt, row.started_at, row.finished_at, row.error,
        len(row.history or ()), tuple(counts.values()), tuple((r.status, r.attempt) for r in shown),
    )  # fmt: skip
    fingerprint = progress.digest({"state": repr(state)})
    step_url = f"/ui/runs/{run.id}/steps/{step_id}"
    return {
        "run": run,
        "row": row,
        "step_id": step_id,
        "item": item,
        "is_item": item >= 0,
        "history": list(reversed(row.history or ())),
        "output": output,
        "output_clipped": output_clipped,
        "items_total": len(items),
        "items_counts": counts,
        "items_text": progress.counts_text({k: v for k, v in counts.items() if v}, len(items)),
        "items": shown,
        "items_status": only,
        "items_page": number,
        "items_pages": pages,
        "items_chosen": len(chosen),
        "items_from": (number - 1) * ITEMS_PAGE + 1,
        "link": link,
        "step_url": step_url,
        "fingerprint": fingerprint,
        "live_url": None if row.final else f"{step_url}/live?{link(v=fingerprint)}",
        "live_every": LIVE_EVERY,
        "statuses": progress.STATUS_ORDER,
        "now": time.time(),
        "first_line": progress.first_line,
        # What `operators` accepts (a 409 otherwise): the buttons show only then.
        "can_cancel": run.status not in RUN_FINAL and not row.final,
        "can_retry": item == -1 and run.status in RETRIED_IN and row.status in RETRIED,
        "item_query": f"?item={item}" if item >= 0 else "",
    }


def _waiting_for(row: StepRow) -> str | None:
    """The signals a step takes now (a waiting `wait`, a for_each fed by signals), if any."""
    return ", ".join(signal_items.waited_for(row)) or None


@html_errors
async def step_page(request: Request) -> Response:
    return await _step_page(request)


async def _step_page(request: Request, status: int = 200, notice: Notice | None = None) -> Response:
    found = await _load(request)
    run, row = found["run"], found["row"]
    engine = api(request).engine
    record = await engine.get_workflow(run.workflow_name, run.workflow_version)
    steps = (record.definition.get("steps") or []) if record is not None else []
    declared = next((step for step in steps if step.get("id") == row.step_id), None)
    has_logs = found["is_item"] or not found["items_total"]
    lines = await engine.read_logs(row.id, after=0, limit=LOG_LINES) if has_logs else []
    item_query = f"&item={row.item_index}" if row.item_index >= 0 else ""
    return page(
        request,
        "step.html",
        status=status,
        notice=notice,
        **found,
        declared=declared,
        declared_json=clipped_json(declared)[0] if declared is not None else "",
        has_logs=has_logs,
        lines=lines,
        log_after=lines[-1].id if lines else 0,
        # Followed while lines may still come: the step goes on, or more were stored than shown.
        log_follow=has_logs and (not row.final or len(lines) >= LOG_LINES),
        log_url=f"/runs/{run.id}/steps/{row.step_id}/logs?follow=true{item_query}",
        # The same lines without following: what run.js asks before it reconnects, to learn
        # whether the stream can come back (a 401 or 404 says it cannot).
        log_check_url=f"/runs/{run.id}/steps/{row.step_id}/logs?follow=false{item_query}",
        waiting_for=_waiting_for(row),
    )


@html_errors
@polled("step-live")
async def step_live(request: Request) -> Response:
    found = await _load(request)
    if found["live_url"] is not None and request.query_params.get("v") == found["fingerprint"]:
        return Response(status_code=204)  # nothing changed since the page asked last
    return page(request, "_step_live.html", **found)


LABELS = {
    "cancel": "Cancelled: the run goes on without it.",
    "retry": "Retried: it and the steps that depend on it run again.",
}


def _action(name: str) -> Any:
    """POST /ui/runs/{id}/steps/{step}/{name} (``?item=N`` for cancel): the engine's step
    action, as the JSON API's route calls it. A step or run it does not apply to (409) or a
    draining instance (503) is a notice on the step page, not an error page."""

    @html_errors
    async def act(request: Request) -> Response:
        current = api(request)
        run_id, step_id = params.path(request, "id"), params.path(request, "step")
        given = request.query_params.get("item")
        item = None if given is None else params.integer("item", given, schemas.CANCEL_ITEM_PARAM)

        async def work() -> None:
            if name == "retry":
                current.refuse_new_work_while_draining()
                await current.engine.retry_step(run_id, step_id)
            else:
                await current.engine.cancel_step(run_id, step_id, item, by="dashboard")

        notice, status = await Notice.of(work(), LABELS[name])
        if request.headers.get("hx-request") == "true":
            # htmx swaps 2xx answers only: the notice travels in a 200, out of band.
            return page(request, "step_acted.html", **await _load(request), notice=notice)
        if status == 200:
            return RedirectResponse(_page_url(run_id, step_id, item), status_code=303)
        return await _step_page(request, status, notice)

    act.__name__ = f"{name}_step"
    return act


def _page_url(run_id: str, step_id: str, item: int | None) -> str:
    query = "" if item is None else f"?{urlencode({'item': item})}"
    return f"/ui/runs/{run_id}/steps/{quote(step_id, safe='')}{query}"


routes = [
    Route("/ui/runs/{id}/steps/{step}", step_page, methods=["GET"]),
    Route("/ui/runs/{id}/steps/{step}/live", step_live, methods=["GET"]),
    Route("/ui/runs/{id}/steps/{step}/cancel", _action("cancel"), methods=["POST"]),
    Route("/ui/runs/{id}/steps/{step}/retry", _action("retry"), methods=["POST"]),
]
