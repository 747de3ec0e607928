"""What the API routes share: the engine, the lifecycle, the body limit."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from executor.engine import Engine
from executor.http.problems import Draining
from executor.lifecycle import Lifecycle, State

RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True)
class Api:
    engine: Engine
    lifecycle: Lifecycle
    max_body: int

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
