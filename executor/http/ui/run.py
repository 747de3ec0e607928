"""The run page (``/ui/runs/{id}``): its header, lineage, input and outputs, graph, timeline
and steps, kept live while the run goes on; and the run's actions (cancel, pause, resume,
retry, send a signal), each calling the engine as the JSON API's own routes do.

Live: the page polls ``/ui/runs/{id}/live`` (htmx) with the fingerprint of the state it
shows; an unchanged run answers 204, a changed one the header and the steps' state as JSON,
which static/run.js applies to the graph, the timeline and the table without redrawing them.
A finished run's fragment stops the polling, and so does a run that is gone (see `polled`).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from executor.artifacts import artifact_json
from executor.engine import signal_items
from executor.errors import RunStateConflict
from executor.http import body, params, schemas, views
from executor.http.api import api
from executor.http.problems import ClientError
from executor.http.ui import progress
from executor.http.ui.forms import read_form
from executor.http.ui.graph import MAX_NODES, graph_data
from executor.http.ui.render import html_errors, page, polled, pretty_json
from executor.nesting import MAX_DEPTH
from executor.statuses import RUN_FINAL
from executor.store.records import RunRecord

CHILDREN = 50  # child runs listed on the page (the rest are counted)
JSON_SHOWN = 100_000  # characters of an input or output shown; the API has all of it
ARTIFACTS_SHOWN = 200  # artifacts listed on the page; the API (and `runs artifacts`) has them all
LIVE_EVERY = 1  # seconds between two polls of a running run's state
LIVE_EVERY_LARGE = 3  # ... of a run too large to draw (its state is tens of kilobytes)
SIGNAL_NAME_MAX = schemas.SIGNAL_NAME["maxLength"]


SIGNAL_KEY = re.compile(r"ui-[0-9a-f]{32}")


def signal_key() -> str:
    """A new idempotency key for one signal form."""
    return f"ui-{uuid.uuid4().hex}"


@dataclass(frozen=True)
class Notice:
    kind: str  # ok | error
    text: str

    @classmethod
    async def of(cls, work: Awaitable[None], done: str) -> tuple[Notice, int]:
        """Do an operator's ``work``; the notice to show and the page's HTTP status. A run or
        step the action does not apply to (409) or a draining instance (503) is a notice on
        the page, not an error page."""
        try:
            await work
        except RunStateConflict as exc:
            return cls("error", f"Not possible now: {exc.message}."), exc.http_status
        except ClientError as exc:  # draining: 503
            return cls("error", exc.message), exc.http_status
        return cls("ok", done), 200


def clipped_json(value: Any) -> tuple[str, bool]:
    """``value`` as pretty JSON, cut at `JSON_SHOWN` characters (True when it was)."""
    text = pretty_json(value)
    return (text, False) if len(text) <= JSON_SHOWN else (text[:JSON_SHOWN], True)


async def _load(request: Request, run_id: str) -> dict[str, Any]:
    """Everything the page and its live fragment show of run ``run_id``."""
    engine = api(request).engine
    run, rows = await engine.get(run_id)
    record = await engine.get_workflow(run.workflow_name, run.workflow_version)
    definition = record.definition if record is not None else {"steps": []}
    steps = progress.summarize(definition, rows)
    state = progress.live_state(run, steps)
    fingerprint = progress.digest(state)
    state["now"] = time.time()
    final = run.status in RUN_FINAL
    every = LIVE_EVERY if len(steps) <= MAX_NODES else LIVE_EVERY_LARGE
    outputs, outputs_clipped = clipped_json(run.outputs)
    # Listed with the live part: a step's artifacts appear with its success.
    artifacts = [artifact_json(artifact) for artifact in await engine.artifacts_of(run)]
    return {
        # What it holds and waits for under keys of mutual exclusion, as the API says it.
        "keys": views.with_places({}, *await engine.places(run)),
        "run": run,
        "steps": steps,
        "definition": definition,
        "state": state,
        "fingerprint": fingerprint,
        "live_url": None if final else f"/ui/runs/{run.id}/live?v={fingerprint}",
        "live_every": every,
        "actions": state["run"]["actions"],
        "outputs": outputs,
        "outputs_clipped": outputs_clipped,
        "artifacts": artifacts[:ARTIFACTS_SHOWN],
        "more_artifacts": max(len(artifacts) - ARTIFACTS_SHOWN, 0),
        "waiting_signals": sorted({name for row in rows for name in signal_items.waited_for(row)}),
        "now": state["now"],
    }


async def _page_context(request: Request, run_id: str) -> dict[str, Any]:
    """The live part plus what only the full page shows: graph, input, lineage."""
    engine = api(request).engine
    found = await _load(request, run_id)
    run: RunRecord = found["run"]
    statuses = {step.id: step.row.status.value for step in found["steps"]}
    counts = {step.id: step.count for step in found["steps"] if step.count}
    children = await engine.list_runs(parent=run.id, limit=CHILDREN + 1)
    more_children = 0
    if len(children) > CHILDREN:
        more_children = await engine.count_runs(parent=run.id) - CHILDREN
    run_input, input_clipped = clipped_json(run.input)
    return {
        **found,
        "graph": graph_data(found["definition"], statuses, counts, f"/ui/runs/{run.id}/steps/{{}}"),
        "children": children[:CHILDREN],
        "more_children": more_children,
        "parent_steps": {step.row.id: step.id for step in found["steps"]},
        "input": run_input,
        "input_clipped": input_clipped,
        "llm": await engine.llm_totals(run.id),  # what its calls to models spent
        "notice": None,
        "signal": {"name": "", "payload": "", "errors": {}, "notice": None, "key": signal_key()},
    }


def _run_id(request: Request) -> str:
    return params.path(request, "id")


@html_errors
async def run_page(request: Request) -> Response:
    return page(request, "run.html", **await _page_context(request, _run_id(request)))


@html_errors
@polled("run-live")
async def live(request: Request) -> Response:
    found = await _load(request, _run_id(request))
    if found["live_url"] is not None and request.query_params.get("v") == found["fingerprint"]:
        return Response(status_code=204)  # the page shows this state already: keep polling
    return page(request, "run_live.html", **found)


LABELS = {
    "cancel": "Cancel requested: the run is cancelled, its running steps are stopped.",
    "pause": "Paused: no new step starts until it is resumed.",
    "resume": "Resumed.",
    "retry": "Retried: its failed steps run again.",
}


def _action(name: str, starts_work: bool) -> Any:
    """POST /ui/runs/{id}/{name}: the engine's action, as POST /runs/{id}/{name} calls it. A
    run in a state the action does not apply to (409) or a draining instance (503) is a
    notice on the run page, not an error page."""

    @html_errors
    async def act(request: Request) -> Response:
        current = api(request)
        run_id = _run_id(request)

        async def work() -> None:
            if starts_work:
                current.refuse_new_work_while_draining()
            await getattr(current.engine, name)(run_id)

        notice, status = await Notice.of(work(), LABELS[name])
        if request.headers.get("hx-request") == "true":
            # htmx swaps 2xx answers only: the notice travels in a 200, out of band.
            return page(request, "run_acted.html", **await _load(request, run_id), notice=notice)
        if status == 200:
            return RedirectResponse(f"/ui/runs/{run_id}", status_code=303)
        context = await _page_context(request, run_id)
        return page(request, "run.html", status=status, **{**context, "notice": notice})

    act.__name__ = name
    return act


def _signal_name(text: str, errors: dict[str, str]) -> str:
    if not text.strip():
        errors["name"] = "Name the signal (the name a wait step waits for)."
    elif len(text) > SIGNAL_NAME_MAX:
        errors["name"] = f"The name is {len(text)} characters long; at most {SIGNAL_NAME_MAX}."
    elif "\x00" in text:
        errors["name"] = "The name holds a NUL character."
    return text


def _signal_payload(text: str, errors: dict[str, str]) -> Any:
    """The payload as JSON (empty: no payload, null), read as the API reads a body: the
    payload sits one level inside the signal request (``{"payload": ...}``)."""
    if not text.strip():
        return None
    try:
        return body.parse_json(text.encode(), MAX_DEPTH - 1)
    except ClientError as exc:
        errors["payload"] = "The payload " + exc.message.removeprefix("the body ") + "."
    return None


@html_errors
async def signal(request: Request) -> Response:
    """POST /ui/runs/{id}/signal (form: name, payload): the engine's signal, as POST
    /runs/{id}/signals/{name} sends it. A bad name or payload is named in the form and
    nothing is sent."""
    engine = api(request).engine
    run_id = _run_id(request)
    form = await read_form(request)
    name_text, payload_text = str(form.get("name", "")), str(form.get("payload", ""))
    errors: dict[str, str] = {}
    name = _signal_name(name_text, errors)
    payload = _signal_payload(payload_text, errors)
    # The form's own idempotency key: a form sent twice (a double click, a reload that
    # posts again) is one signal. A key that is not one of ours is not used.
    given = str(form.get("key", ""))
    key = given if SIGNAL_KEY.fullmatch(given) else None
    notice = None
    if not errors:
        try:
            delivered = await engine.signal(run_id, name, payload, key=key)
        except RunStateConflict as exc:
            errors["name"] = f"Not sent: {exc.message}."
        else:
            taken = "a waiting step took it" if delivered else "kept until a step waits for it"
            notice = Notice("ok", f"Signal {name!r} sent: {taken}.")
            name_text = payload_text = ""
    status = 422 if errors else 200
    # Nothing sent: the same key again; sent: a new form, a new key.
    form_key = key if errors and key else signal_key()
    form_state = {
        "name": name_text,
        "payload": payload_text,
        "errors": errors,
        "notice": notice,
        "key": form_key,
    }
    if request.headers.get("hx-request") == "true":
        found = await _load(request, run_id)
        # A 200 even with errors: htmx swaps only 2xx answers, and the errors are the answer.
        return page(request, "run_signal.html", **found, signal=form_state)
    if not errors:
        return RedirectResponse(f"/ui/runs/{run_id}", status_code=303)
    context = await _page_context(request, run_id)
    return page(request, "run.html", status=status, **{**context, "signal": form_state})


routes = [
    Route("/ui/runs/{id}", run_page, methods=["GET"]),
    Route("/ui/runs/{id}/live", live, methods=["GET"]),
    Route("/ui/runs/{id}/cancel", _action("cancel", starts_work=False), methods=["POST"]),
    Route("/ui/runs/{id}/pause", _action("pause", starts_work=False), methods=["POST"]),
    Route("/ui/runs/{id}/resume", _action("resume", starts_work=True), methods=["POST"]),
    Route("/ui/runs/{id}/retry", _action("retry", starts_work=True), methods=["POST"]),
    Route("/ui/runs/{id}/signal", signal, methods=["POST"]),
]
