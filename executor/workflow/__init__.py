"""The workflow language: what a workflow is, how it is parsed, how its templates render."""

from __future__ import annotations

from executor.workflow.expressions import Masker, build_context, render
from executor.workflow.inputs import apply_input
from executor.workflow.lint import lint
from executor.workflow.model import RetryPolicy, Step, Workflow
from executor.workflow.parser import Problem, load_workflow_file, parse_definition, parse_workflow

__all__ = [
    "Masker",
    "Problem",
    "RetryPolicy",
    "Step",
    "Workflow",
    "apply_input",
    "build_context",
    "lint",
    "load_workflow_file",
    "parse_definition",
    "parse_workflow",
    "render",
]
