"""The Starlette application: routes, authentication, error mapping, the version header,
request metrics."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from executor import __version__
from executor.engine import Engine
from executor.http import (
    artifacts,
    errors,
    health,
    instances,
    metrics,
    openapi,
    runs,
    schedules,
    steps,
    ui,
    workflows,
)
from executor.http.api import Api
from executor.http.auth import BearerAuth
from executor.http.metrics import HttpMetrics
from executor.http.ui import guard as ui_guard
from executor.lifecycle import Lifecycle
from executor.scheduler import Scheduler

VERSION_HEADER = (b"x-executor-version", __version__.encode())


class VersionHeader:
    """Add ``X-Executor-Version`` to every response, errors included (pure ASGI: no buffering)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), VERSION_HEADER]
            await send(message)

        await self.app(scope, receive, send_with_version)


async def openapi_document(request: Request) -> JSONResponse:
    # The document of this instance: bearer security and 401s only when it has a token.
    return JSONResponse(openapi.document(secured=request.app.state.secured))


def create_app(
    lifecycle: Lifecycle,
    engine: Engine | None = None,
    *,
    scheduler: Scheduler | None = None,
    tokens: tuple[str, ...] = (),
    max_body: int,  # bytes; `--max-body`
) -> ASGIApp:
    routes: list[BaseRoute] = [
        *health.routes,
        Route("/openapi.json", openapi_document, methods=["GET"]),
        *metrics.routes,
    ]
    if engine is not None:
        routes += [*workflows.routes, *runs.routes, *steps.routes, *artifacts.routes]
        routes += [*schedules.routes, *instances.routes]
        routes += ui.routes
    app = Starlette(routes=routes, exception_handlers=errors.HANDLERS)
    # `/runs/` is a 404 naming `/runs` (errors.py), not a redirect that some clients follow
    # without the POST body.
    app.router.redirect_slashes = False
    app.state.lifecycle = lifecycle
    app.state.secured = bool(tokens)
    app.state.tokens = tokens
    if engine is not None:
        app.state.api = Api(
            engine=engine, lifecycle=lifecycle, max_body=max_body, scheduler=scheduler or Scheduler(engine)
        )
    # Outside Starlette's ServerErrorMiddleware, so even a 500 carries the header; every
    # request counted, a 401 too.
    return HttpMetrics(VersionHeader(BearerAuth(ui_guard.Guard(app, tokens), tokens)), app.routes)
