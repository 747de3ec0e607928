"""Health routes for load balancers and supervisors.

* ``/health``: 200 while the service is running or draining, 503 while idle or stopped, with
  ``{"state": ...}`` (the shape other executors' health checks expect).
* ``/health/live``: 200 whenever the process answers HTTP at all.
* ``/health/ready``: 200 only while running; 503 from the moment a drain starts, so load
  balancers stop sending work before the process goes away.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from executor.lifecycle import Lifecycle, State


def _lifecycle(request: Request) -> Lifecycle:
    lifecycle: Lifecycle = request.app.state.lifecycle
    return lifecycle


async def health(request: Request) -> JSONResponse:
    state = _lifecycle(request).state
    ok = state in (State.RUNNING, State.DRAINING)
    return JSONResponse({"state": state.value}, 200 if ok else 503)


async def live(request: Request) -> JSONResponse:
    return JSONResponse({"state": _lifecycle(request).state.value})


async def ready(request: Request) -> JSONResponse:
    state = _lifecycle(request).state
    api = getattr(request.app.state, "api", None)
    database_ok = api is None or api.engine.database_ok
    ok = state is State.RUNNING and database_ok
    body: dict[str, object] = {"state": state.value}
    if not database_ok:
        body["database"] = "unreachable"
    return JSONResponse(body, 200 if ok else 503)


routes = [
    Route("/health", health, methods=["GET", "HEAD"]),
    Route("/health/live", live, methods=["GET", "HEAD"]),
    Route("/health/ready", ready, methods=["GET", "HEAD"]),
]
