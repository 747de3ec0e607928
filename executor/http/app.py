"""The Starlette application: routes, error mapping and the version header."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from executor import __version__
from executor.http import errors, health
from executor.lifecycle import Lifecycle

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


def create_app(lifecycle: Lifecycle) -> ASGIApp:
    app = Starlette(routes=[*health.routes], exception_handlers=errors.HANDLERS)
    app.state.lifecycle = lifecycle
    # Outside Starlette's ServerErrorMiddleware, so even a 500 carries the header.
    return VersionHeader(app)
