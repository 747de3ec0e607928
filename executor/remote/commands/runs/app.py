"""The `executor runs` group, and what its commands share: the run argument and the run
filter (of `list`, `count` and the bulk `cancel` and `retry`)."""

from __future__ import annotations

from typing import Annotated

import typer

from executor.remote.options import group
from executor.statuses import RunStatus

app = group(
    "runs",
    "List, inspect, start, cancel, pause, resume, retry, signal runs, read their logs and get their artifacts, on a running Executor.",
    "Every command talks to the server's HTTP API: --server / EXECUTOR_SERVER, --token / "
    "EXECUTOR_API_TOKEN, or a context (executor context --help).",
)

RunArgument = Annotated[str, typer.Argument(metavar="RUN", help="The run's id.", show_default=False)]


# The run filter of `list`, `count` and the bulk `cancel` and `retry`.
WorkflowFilter = Annotated[
    str | None, typer.Option("--workflow", "-w", metavar="NAME", help="Only runs of this workflow.")
]
StatusFilter = Annotated[RunStatus | None, typer.Option("--status", "-s", help="Only runs in this state.")]
TriggerFilter = Annotated[
    str | None,
    typer.Option(
        "--trigger", metavar="TRIGGER", help="Only runs started so: api, cli, schedule, backfill, parent."
    ),
]
ParentFilter = Annotated[
    str | None, typer.Option("--parent", metavar="RUN", help="Only the child runs of this run.")
]
SinceFilter = Annotated[
    str | None, typer.Option("--since", metavar="TIME", help="Only runs created at or after this time.")
]
UntilFilter = Annotated[
    str | None, typer.Option("--until", metavar="TIME", help="Only runs created before this time.")
]
TIMES_HELP = (
    "--since and --until take an ISO 8601 time (2026-11-01, 2026-11-01T09:30:00Z; without an "
    "offset, in your local time zone) or a duration back from now (30m, 1h, 2d)."
)


def run_filter(
    workflow: str | None,
    status: RunStatus | None,
    trigger: str | None,
    parent: str | None,
    since: str | None,
    until: str | None,
) -> dict[str, str | None]:
    """The filter as the API takes it (None: not filtered on)."""
    from executor.remote.values import parse_time

    return {
        "workflow": workflow,
        "status": status.value if status else None,
        "trigger": trigger,
        "parent": parent,
        "since": parse_time(since, "--since") if since is not None else None,
        "until": parse_time(until, "--until") if until is not None else None,
    }
