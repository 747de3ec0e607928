"""The remote command groups, as `executor.cli` registers them (``executor runs ...``)."""

from __future__ import annotations

import typer

from executor.remote.commands import contexts, instances, runs, schedules, workflows

GROUPS: dict[str, typer.Typer] = {
    "runs": runs.app,
    "workflows": workflows.app,
    "schedules": schedules.app,
    "instances": instances.app,
    "context": contexts.app,
}
