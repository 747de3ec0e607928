"""What the API routes share: the engine, the lifecycle, the body limit, one route per path."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.routing import Match, Route
from starlette.types import Scope

from executor.engine import Engine
from executor.http.problems import Draining
from executor.lifecycle import Lifecycle, State
from executor.scheduler import Scheduler

RETRY_AFTER_SECONDS = 5

Endpoint = Callable[[Request], Awaitable[Any]]


@dataclass(frozen=True)
class Api:
    engine: Engine
    lifecycle: Lifecycle
    max_body: int
    scheduler: Scheduler | None = None

    def refuse_new_work_while_draining(self) -> None:
        """Starting work on an instance that is going away would only be handed back."""
        if self.lifecycle.state is not State.RUNNING:
            raise Draining(
                f"this instance is {self.lifecycle.state.value}; send it to another one",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )


def api(request: Request) -> Api:
    current: Api = request.app.state.api
    return current


def route(path: str, *, every_method: bool = False, **endpoints: Endpoint) -> Route:
    """One route answering every method of ``path`` (``route("/runs", GET=..., POST=...)``), so
    that a method it lacks gets a 405 whose ``Allow`` names all of them: Starlette answers for
    the first route whose path matches, and separate routes per method would each name only
    their own.

    ``every_method``: the route answers that 405 even when a later route's template matches
    the path with that method: Starlette would hand ``GET /runs/batch`` to ``GET /runs/{id}``
    (no run "batch", 404)."""

    async def by_method(request: Request) -> Any:
        # Starlette answers HEAD wherever GET is allowed; the server sends no body.
        return await endpoints["GET" if request.method == "HEAD" else request.method](request)

    by_method.__name__ = "_".join(endpoint.__name__ for endpoint in endpoints.values())
    return (_EveryMethod if every_method else Route)(path, by_method, methods=list(endpoints))


class _EveryMethod(Route):
    """A route whose path, matched, is its own whatever the method (`route`)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        return (Match.FULL if match is Match.PARTIAL else match), child
