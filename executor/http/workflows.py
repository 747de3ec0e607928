"""Routes: register workflow versions (YAML or JSON) and read them, with their runs by status."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse

from executor.http import body, params, schemas, views
from executor.http.api import api, route
from executor.http.problems import MalformedBody, NotFound, UnsupportedMediaType
from executor.workflow import lint, parse_definition, parse_workflow


async def create(request: Request) -> JSONResponse:
    raw = await body.read(request, api(request).max_body)
    kind = body.media_type(request)
    if kind in body.YAML_TYPES:
        try:
            source = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedBody("the body is not UTF-8 text") from None
        workflow = parse_workflow(source)
        warnings = lint(workflow, source=source)
    elif kind in body.JSON_TYPES:
        data = body.parse_json(raw)
        workflow = parse_definition(data)
        source = json.dumps(data, indent=2)
        warnings = lint(workflow)  # no lines: the body was JSON
    else:
        raise UnsupportedMediaType("send the workflow as application/yaml or application/json")
    record, created = await api(request).engine.register(workflow, source)
    scheduler = api(request).scheduler
    if workflow.schedules and scheduler is not None:
        scheduler.wake()  # their first ticks are computed now, not at the next look
    # Registered all the same: a warning is risky, not wrong (docs/workflows.md).
    found = [{"path": w.path, "line": w.line, "message": w.message} for w in warnings]
    return JSONResponse(
        {"name": record.name, "version": record.version, "warnings": found}, 201 if created else 200
    )


async def list_latest(request: Request) -> JSONResponse:
    engine = api(request).engine
    records = await engine.list_workflows()
    counts = await engine.run_counts()
    found = [views.workflow_with_runs(record, counts.get(record.name, {})) for record in records]
    return JSONResponse({"workflows": found})


async def latest(request: Request) -> JSONResponse:
    name = params.path(request, "name")
    record = await api(request).engine.get_workflow(name)
    if record is None:
        raise NotFound(f"no workflow {name}")
    return JSONResponse(views.workflow(record))


async def versions(request: Request) -> JSONResponse:
    name = params.path(request, "name")
    found = await api(request).engine.list_workflow_versions(name)
    if not found:
        raise NotFound(f"no workflow {name}")
    return JSONResponse({"versions": [views.workflow_version(v) for v in found]})


async def version(request: Request) -> JSONResponse:
    name, number = params.path(request, "name"), request.path_params["version"]
    record = await api(request).engine.get_workflow(name, number) if number <= schemas.INT32_MAX else None
    if record is None:
        raise NotFound(f"no workflow {name} version {number}")
    return JSONResponse(views.workflow(record))


routes = [
    route("/workflows", GET=list_latest, POST=create),
    route("/workflows/{name}", GET=latest),
    route("/workflows/{name}/versions", GET=versions),
    route("/workflows/{name}/versions/{version:int}", GET=version),
]
