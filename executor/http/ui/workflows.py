"""The workflows pages: every workflow with its runs by status; one workflow with its source,
versions, diffs, graph and schedules; and the start-run form built from its input schema.

A run started here goes through what ``POST /runs`` does (the request schema, the draining
check, `Engine.submit` with the ``api`` trigger: the dashboard is a client of the API), so
its errors are the API's, shown next to the fields they name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from executor.durations import format_duration
from executor.errors import ExecutorError, InputInvalid, WorkflowNotFound
from executor.http import params, schemas
from executor.http.api import Api, api
from executor.http.problems import InvalidRequest
from executor.http.ui import diff, forms
from executor.http.ui.graph import graph_data
from executor.http.ui.render import html_errors, page
from executor.statuses import RUN_FINAL, RunStatus
from executor.store.records import Origin, RunRecord, WorkflowRecord

KEY_FIELD = "idempotency_key"


@dataclass
class StartForm:
    """The start-run form as shown: its fields, their texts, the errors by field name."""

    fields: list[forms.Field]
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    mode: str = "fields"  # or "json": the whole input typed as JSON

    @classmethod
    def blank(cls, record: WorkflowRecord) -> StartForm:
        found = forms.fields(record.definition.get("inputs"))
        return cls(found, forms.initial_values(found), mode="fields" if found else "json")


def success_rate(counts: dict[RunStatus, int]) -> float | None:
    """Succeeded runs over finished ones (None: none finished yet)."""
    finished = sum(n for status, n in counts.items() if status in RUN_FINAL)
    return None if finished == 0 else counts.get(RunStatus.SUCCEEDED, 0) / finished


@html_errors
async def list_page(request: Request) -> Response:
    engine = api(request).engine
    records = await engine.list_workflows()
    counts = await engine.run_counts()
    rows = [
        {
            "record": record,
            "counts": counts.get(record.name, {}),
            "rate": success_rate(counts.get(record.name, {})),
        }
        for record in records
    ]
    return page(request, "workflows.html", rows=rows, statuses=[status.value for status in RunStatus])


def _version(text: str | None, field_name: str = "version") -> int | None:
    """A version number, read as the API reads one (`params.integer`); none when not given."""
    if text is None or text == "":
        return None
    try:
        return params.integer(field_name, text, schemas.VERSION_PARAM)
    except InvalidRequest:
        raise InvalidRequest(
            f"{field_name} must be a version number",
            [{"path": field_name, "message": f"{text!r} is not one"}],
        ) from None


def _name(request: Request) -> str:
    return params.path(request, "name")


async def _record(request: Request, name: str, version: int | None) -> WorkflowRecord:
    record = await api(request).engine.get_workflow(name, version)
    if record is None:
        what = f"no workflow {name}" + ("" if version is None else f" version {version}")
        raise WorkflowNotFound(what)
    return record


async def _workflow_page(
    request: Request, record: WorkflowRecord, form: StartForm, status: int = 200
) -> Response:
    current = api(request)
    versions = await current.engine.list_workflow_versions(record.name)
    latest = versions[0].version if versions else record.version
    schedules = await current.scheduler.list(record.name) if current.scheduler is not None else []
    counts = (await current.engine.run_counts()).get(record.name, {})
    older = [v.version for v in versions if v.version < record.version]
    return page(
        request,
        "workflow.html",
        status=status,
        record=record,
        description=record.definition.get("description") or "",
        steps=record.definition.get("steps") or [],
        versions=versions,
        latest=latest,
        schedules=schedules,
        counts=counts,
        rate=success_rate(counts),
        graph=graph_data(record.definition),
        form=form,
        diff_from=older[0] if older else record.version,
        diff_to=record.version,
        every=format_duration,
    )


@html_errors
async def one_page(request: Request) -> Response:
    name = _name(request)
    record = await _record(request, name, _version(request.query_params.get("version")))
    return await _workflow_page(request, record, StartForm.blank(record))


@html_errors
async def diff_page(request: Request) -> Response:
    name = _name(request)
    versions = await api(request).engine.list_workflow_versions(name)
    if not versions:
        raise WorkflowNotFound(f"no workflow {name}")
    after = _version(request.query_params.get("to"), "to") or versions[0].version
    before = _version(request.query_params.get("from"), "from")
    if before is None:
        before = next((v.version for v in versions if v.version < after), after)
    old, new = await _record(request, name, before), await _record(request, name, after)
    lines = diff.unified(old.source, new.source, f"{name} v{old.version}", f"{name} v{new.version}")
    return page(
        request,
        "workflow_diff.html",
        workflow=name,
        versions=versions,
        before=old,
        after=new,
        lines=lines,
    )


async def start(current: Api, record: WorkflowRecord, run_input: Any, key: str | None) -> RunRecord:
    """Start a run of this version as ``POST /runs`` would (same checks, same errors)."""
    current.refuse_new_work_while_draining()
    sent: dict[str, Any] = {"workflow": record.name, "version": record.version, "input": run_input}
    if key is not None:
        sent[KEY_FIELD] = key
    schemas.validate(schemas.RUN_REQUEST, sent)
    run, _ = await current.engine.submit(
        record.name, run_input, version=record.version, idempotency_key=key, origin=Origin(trigger="api")
    )
    return run


def _request_errors(exc: InvalidRequest, found: list[forms.Field]) -> dict[str, str]:
    """The run request's errors by field: ``$.input...`` ones by the input's fields."""
    problems: list[tuple[str, str]] = []
    errors: dict[str, str] = {}
    for detail in exc.details or [{"path": "$", "message": exc.message}]:
        path, message = str(detail.get("path", "$")), str(detail.get("message", ""))
        if path == "$." + KEY_FIELD:
            errors[KEY_FIELD] = message
        elif path == "$.input" or path.startswith(("$.input.", "$.input[")):
            problems.append(("$" + path[len("$.input") :], message))
        else:
            problems.append((path, message))
    placed = forms.place(problems, found)
    return {**placed, **errors}


@html_errors
async def start_run(request: Request) -> Response:
    name = _name(request)
    texts = await forms.read_form(request)
    record = await _record(request, name, _version(texts.get("version")))
    blank = StartForm.blank(record)
    mode = "json" if texts.get("mode") == "json" or not blank.fields else "fields"
    # The errors of the mode used: in JSON mode no field was read, so none is blamed.
    blamed = blank.fields if mode == "fields" else []
    if mode == "json":
        run_input, errors = forms.read_raw(texts.get(forms.RAW, ""))
    else:
        run_input, errors = forms.read(blank.fields, texts)
    key = texts.get(KEY_FIELD, "").strip() or None
    status = 422
    if not errors:
        try:
            run = await start(api(request), record, run_input, key)
        except InputInvalid as exc:
            errors = forms.place(exc.problems, blamed)
        except InvalidRequest as exc:
            errors = _request_errors(exc, blamed)
        except ExecutorError as exc:  # draining, a version gone: said on the form, kept as typed
            errors, status = {forms.GENERAL: exc.message}, exc.http_status
        else:
            return RedirectResponse(f"/ui/runs/{run.id}", status_code=303)
    form = StartForm(blank.fields, texts, errors, mode)
    return await _workflow_page(request, record, form, status=status)


routes = [
    Route("/ui/workflows", list_page, methods=["GET"]),
    Route("/ui/workflows/{name}", one_page, methods=["GET"]),
    Route("/ui/workflows/{name}/diff", diff_page, methods=["GET"]),
    Route("/ui/workflows/{name}/runs", start_run, methods=["POST"]),
]
