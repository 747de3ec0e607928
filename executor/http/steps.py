"""Routes acting on one step of a run: cancel it (or one of its for_each items), retry it
with what depends on it (`executor.engine.operators`). Both answer 202 with the run."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from executor.http import params, schemas, views
from executor.http.api import api, route
from executor.http.problems import InvalidRequest


async def cancel_step(request: Request) -> JSONResponse:
    current = api(request)
    run_id, step_id = params.path(request, "id"), params.path(request, "step")
    given = request.query_params.get("item")
    item = None if given is None else params.integer("item", given, schemas.CANCEL_ITEM_PARAM)
    await current.engine.cancel_step(run_id, step_id, item, by="API")
    return await _answer(request, run_id)


async def retry_step(request: Request) -> JSONResponse:
    current = api(request)
    current.refuse_new_work_while_draining()  # as a run retry: it starts work
    run_id, step_id = params.path(request, "id"), params.path(request, "step")
    if "item" in request.query_params:
        # A for_each step runs again whole: taking `item` silently would retry more than asked.
        raise InvalidRequest(
            "item: a retry runs the whole step again, not one item",
            [{"path": "item", "message": "a step is retried whole; leave item out"}],
        )
    await current.engine.retry_step(run_id, step_id)
    return await _answer(request, run_id)


async def _answer(request: Request, run_id: str) -> JSONResponse:
    run, rows = await api(request).engine.get(run_id)
    return JSONResponse(views.run(run, rows), 202)


routes = [
    route("/runs/{id}/steps/{step}/cancel", POST=cancel_step),
    route("/runs/{id}/steps/{step}/retry", POST=retry_step),
]
