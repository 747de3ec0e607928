"""``GET /metrics`` (Prometheus text format, or OpenMetrics when asked for) and the middleware
that counts every HTTP request by route template, method and status class.

The route needs the API token like every other route but ``/health*`` (`auth.BearerAuth`).
At each scrape the gauges read from the database are read once (`Engine.step_counts`);
a database that does not answer leaves them out of that scrape rather than failing it.
"""

from __future__ import annotations

import asyncio
import time

from loguru import logger
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from executor import metrics as registry
from executor.errors import ExecutorError
from executor.http.api import route

DATABASE_READ_TIMEOUT = 5.0  # seconds; a scrape waits no longer for the database gauges
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"


async def metrics_text(request: Request) -> Response:
    api = getattr(request.app.state, "api", None)
    values: dict[str, float] | None = None
    if api is not None:
        try:
            counts = await asyncio.wait_for(api.engine.step_counts(), DATABASE_READ_TIMEOUT)
            values = {"executor_steps_ready": counts["ready"], "executor_steps_running": counts["running"]}
        except (ExecutorError, TimeoutError) as exc:
            logger.debug("metrics: the database gauges are left out of this scrape: {}", exc)
    registry.DATABASE.update(values)
    body, content_type = registry.exposition(request.headers.get("accept"))
    return Response(body, headers={"Content-Type": content_type})


routes = [route("/metrics", GET=metrics_text)]


class HttpMetrics:
    """Count each request and time it to the end of its response (pure ASGI: nothing
    buffered). The route is the template Starlette matched (``/runs/{id}``), never the
    raw path; a request refused before routing (401) is matched here, after the fact."""

    def __init__(self, app: ASGIApp, routes: list[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the application fails before answering

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "other"
            registry.http_request(self._template(scope), method, status, time.perf_counter() - started)

    def _template(self, scope: Scope) -> str:
        matched = scope.get("route")
        if matched is None:
            for candidate in self.routes:
                match, child = candidate.matches(scope)
                if match is not Match.NONE:
                    matched = child.get("route", candidate)  # the dashboard's page (`ui.Dashboard`)
                    break
        path = getattr(matched, "path", None)
        return path if isinstance(path, str) else UNMATCHED
