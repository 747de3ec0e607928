"""`executor runs list|count|get`: reading runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from executor.remote.commands.runs.app import (
    TIMES_HELP,
    ParentFilter,
    RunArgument,
    SinceFilter,
    StatusFilter,
    TriggerFilter,
    UntilFilter,
    WorkflowFilter,
    app,
    run_filter,
)
from executor.remote.options import Format, Remote, help_text, remote_command
from executor.sizes import format_usd

if TYPE_CHECKING:
    from executor.remote.client import Client

PAGE = 500  # the API's largest page


@app.command(
    "list",
    help=help_text(
        "List runs, newest first: 50 unless --limit or --all says otherwise.",
        TIMES_HELP,
        "Example: executor runs list --workflow nightly --status failed --since 1d",
        "Example: executor runs list --all -o jsonl | jq -r .id",
    ),
)
@remote_command
def list_runs(
    remote: Remote,
    workflow: WorkflowFilter = None,
    status: StatusFilter = None,
    trigger: TriggerFilter = None,
    parent: ParentFilter = None,
    since: SinceFilter = None,
    until: UntilFilter = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, metavar="N", help="At most this many runs.")
    ] = 50,
    every: Annotated[
        bool, typer.Option("--all", "-A", help="Every matching run, page after page (no --limit).")
    ] = False,
    page_size: Annotated[
        int, typer.Option("--page-size", min=1, max=PAGE, metavar="N", help="Runs asked for per request.")
    ] = PAGE,
) -> None:
    from executor.remote import output

    filters = run_filter(workflow, status, trigger, parent, since, until)
    more: list[bool] = []
    found = runs_pages(remote.client, filters, None if every else limit, more, page_size)
    count = output.listing(found, remote.form, run_columns(), empty="no runs")
    if more and remote.form is Format.TABLE:
        typer.echo(f"(the first {count}; more with --limit or --all)", err=True)


@app.command(
    "count",
    help=help_text(
        "Count the runs a filter selects (every run without one).",
        TIMES_HELP,
        "Example: executor runs count --workflow nightly --status failed --since 7d",
    ),
)
@remote_command
def count_runs(
    remote: Remote,
    workflow: WorkflowFilter = None,
    status: StatusFilter = None,
    trigger: TriggerFilter = None,
    parent: ParentFilter = None,
    since: SinceFilter = None,
    until: UntilFilter = None,
) -> None:
    from executor.remote import output

    answer = remote.client.get("/runs/count", **run_filter(workflow, status, trigger, parent, since, until))
    if remote.form is Format.TABLE:
        typer.echo(answer["count"])
    else:
        output.document(answer, remote.form)


def runs_pages(
    client: Client, filters: dict[str, Any], limit: int | None, more: list[bool], page_size: int = PAGE
) -> Iterator[dict[str, Any]]:
    """The runs ``filters`` select, newest first, following ``next_cursor`` until ``limit``
    (None: to the end); ``more`` gets True when some were left."""
    cursor, left = None, limit
    while True:
        page = client.get("/runs", **filters, limit=min(left or page_size, page_size), cursor=cursor)
        yield from page["runs"]
        cursor = page.get("next_cursor")
        if left is not None:
            left -= len(page["runs"])
        if not cursor:
            return
        if left is not None and left <= 0:
            more.append(True)
            return


def run_columns() -> list[Any]:
    from executor.remote.output import Column, compact, moment, status, took

    return [
        Column("RUN", lambda r: r["id"], no_wrap=True),
        Column("WORKFLOW", lambda r: f"{r['workflow']} v{r['version']}", no_wrap=True),
        Column("STATUS", lambda r: status(r["status"])),
        Column("TRIGGER", lambda r: _trigger(r.get("trigger"))),
        Column("CREATED", lambda r: moment(r.get("created_at")), no_wrap=True),
        Column("TOOK", lambda r: took(r.get("started_at"), r.get("finished_at"))),
        Column("ERROR", lambda r: compact(r.get("error"), 60).strip('"')),
    ]


def _trigger(trigger: dict[str, Any] | None) -> str:
    if not trigger:
        return ""
    schedule = trigger.get("schedule")
    return f"{trigger['type']} ({schedule})" if schedule else str(trigger["type"])


@app.command(
    "get",
    help=help_text(
        "Show a run with its steps: status, attempts, timings, errors (a for_each step's items as STEP[N]).",
        "Example: executor runs get 0b5e6f0c-... -o json | jq .steps",
    ),
)
@remote_command
def get_run(remote: Remote, run: RunArgument) -> None:
    from executor.remote.client import path

    answer = remote.client.get(path("runs", run))
    if remote.form is Format.TABLE:
        show_run(answer)
    else:
        from executor.remote import output

        output.document(answer, remote.form)


def _llm(totals: dict[str, Any] | None) -> str | None:
    """What the run's calls to models add up to (None: it made none)."""
    if not totals or not totals.get("calls"):
        return None
    calls = totals["calls"]
    tokens = f"{totals['input_tokens']} in ({totals['cached_tokens']} cached) / {totals['output_tokens']} out"
    return f"{calls} call{'s' if calls != 1 else ''}, {tokens} tokens, {format_usd(totals['cost_usd'])}"


def show_run(run: dict[str, Any]) -> None:
    from executor.remote import output
    from executor.remote.watch import rows

    output.fields(
        [
            ("run", run["id"]),
            ("workflow", f"{run['workflow']} v{run['version']}"),
            ("status", output.status(run["status"])),
            ("trigger", _trigger(run.get("trigger"))),
            ("parent", run.get("parent_run_id")),
            ("idempotency key", run.get("idempotency_key")),
            ("priority", str(run["priority"]) if run.get("priority") else None),
            ("created", output.moment(run.get("created_at"))),
            ("started", output.moment(run.get("started_at"))),
            ("finished", output.moment(run.get("finished_at"))),
            ("took", output.took(run.get("started_at"), run.get("finished_at"))),
            ("input", output.compact(run.get("input"), 200) if run.get("input") else None),
            ("outputs", output.compact(run.get("outputs"), 200)),
            ("llm", _llm(run.get("llm"))),
            ("error", run.get("error")),
        ]
    )
    steps = [(label, row) for _, _, label, row in rows(run)]
    if steps:
        print()
        output.table(
            steps,
            [
                output.Column("STEP", lambda s: s[0], no_wrap=True),
                output.Column("STATUS", lambda s: output.status(s[1]["status"])),
                output.Column("ATTEMPTS", lambda s: str(s[1].get("attempts") or 0)),
                output.Column("STARTED", lambda s: output.moment(s[1].get("started_at")), no_wrap=True),
                output.Column("TOOK", lambda s: output.took(s[1].get("started_at"), s[1].get("finished_at"))),
                output.Column("ERROR", lambda s: s[1].get("error") or ""),
            ],
        )
