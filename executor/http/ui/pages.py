"""The dashboard's routes: every page module's, the static files, and ``/`` leading to the runs.

Imported at the dashboard's first request (`executor.http.ui.Dashboard`), not at the start."""

from __future__ import annotations

from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from executor.http.ui import bulk, instances, login, run, runs, schedules, step, workflows
from executor.http.ui.render import STATIC


async def _home(_request: object) -> RedirectResponse:
    return RedirectResponse("/ui/runs", status_code=307)


routes: list[BaseRoute] = [
    Route("/", _home, methods=["GET"]),
    Route("/ui", _home, methods=["GET"]),
    Route("/ui/login", login.login, methods=["GET", "POST"]),
    Route("/ui/logout", login.logout, methods=["POST"]),
    *runs.routes,
    # Before the run page: /ui/runs/bulk is no run's id.
    *bulk.routes,
    *run.routes,
    *step.routes,
    *workflows.routes,
    *schedules.routes,
    *instances.routes,
    Mount("/ui/static", app=StaticFiles(directory=STATIC), name="static"),
]
