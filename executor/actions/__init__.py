"""Actions: what a step does. The protocol (`base`, `context`, `outcomes`), the parameters
of every action (`specs`, all the workflow language needs), one module per action, and
the registry of their runtimes (`registry`, what the engine runs)."""

from __future__ import annotations

from executor.actions.base import Action, Param
from executor.actions.context import Attempt
from executor.actions.outcomes import ChildRun, Failed, Outcome, Succeeded, Suspend
from executor.actions.specs import SPECS

__all__ = ["SPECS", "Action", "Attempt", "ChildRun", "Failed", "Outcome", "Param", "Succeeded", "Suspend"]
