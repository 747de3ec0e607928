"""The action protocol: what an action declares (its parameters) and how it runs an attempt.

This is the leaf the rest of Executor builds on: the workflow language checks a step's
``with`` against `Action.params`, and the engine calls `Action.run` and `Action.resume`.
Actions know nothing of either: they get an `Attempt` and answer with an `Outcome`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from executor.actions.context import Attempt
from executor.actions.outcomes import Failed, Outcome


def json_or_none(text: str) -> Any:
    """``text`` parsed as JSON when it is JSON (a command's stdout, a response body), else None."""
    try:
        return json.loads(text) if text.strip() else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Param:
    name: str
    # Literal types accepted, by name: string, integer, number, boolean, object, list,
    # string_list, string_map, any, and "duration" (a duration string or a number of seconds).
    # The workflow language checks them (`executor.workflow.params`).
    kinds: tuple[str, ...]
    required: bool = False
    doc: str = ""


class Action:
    """An action as a class of static methods and declarations; never instantiated."""

    name: ClassVar[str]
    params: ClassVar[tuple[Param, ...]]
    # Holds no worker slot while it waits (sleep, wait, workflow): the step is suspended.
    durable: ClassVar[bool] = False
    # Spends money per call (llm): a workflow's `budget` stops its attempts once spent.
    metered: ClassVar[bool] = False

    @classmethod
    def check_more(cls, with_: dict[str, Any], templated: frozenset[str]) -> list[tuple[str, str]]:
        """Problems beyond each parameter's type (two parameters that exclude each other...)
        as ``(key, message)``. ``templated`` names the keys whose values are templates, known
        only once rendered: they must not be judged as literals."""
        return []

    @staticmethod
    async def run(attempt: Attempt) -> Outcome:
        """Run one attempt with its rendered parameters (``attempt.params``)."""
        raise NotImplementedError

    @staticmethod
    async def resume(attempt: Attempt) -> Outcome:
        """Continue an attempt that suspended (durable actions): its timer fell due.
        ``attempt.state`` is what the `Suspend` kept."""
        return Failed("this action cannot be resumed", retryable=False)
