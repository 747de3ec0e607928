"""The runtime of every action, by name."""

from __future__ import annotations

from executor.actions.base import Action
from executor.actions.endings import Cancel, Terminate
from executor.actions.http import Http
from executor.actions.llm import Llm
from executor.actions.noop import Noop
from executor.actions.shell import Shell
from executor.actions.sleep import Sleep
from executor.actions.wait import Wait
from executor.actions.workflow import StartWorkflow

ACTIONS: dict[str, type[Action]] = {
    action.name: action for action in (Shell, Http, Sleep, Wait, StartWorkflow, Noop, Terminate, Cancel, Llm)
}
