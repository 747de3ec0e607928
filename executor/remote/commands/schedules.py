"""`executor schedules ...`: read schedules, pause and resume them, fire them now, backfill."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from executor.remote.options import Format, Remote, group, help_text, remote_command

app = group(
    "schedules",
    "List, inspect, pause, resume, trigger and backfill the schedules of a running Executor.",
    "A schedule is named by its workflow and its id (the `schedules:` entry of the workflow).",
)

WorkflowArgument = Annotated[str, typer.Argument(metavar="WORKFLOW", help="The schedule's workflow.")]
ScheduleArgument = Annotated[str, typer.Argument(metavar="ID", help="The schedule's id in that workflow.")]


def _when(schedule: dict[str, Any]) -> str:
    if schedule.get("cron"):
        return str(schedule["cron"])
    from executor.durations import format_duration

    every = schedule.get("every")
    return f"every {format_duration(every)}" if every else ""


@app.command(
    "list",
    help=help_text(
        "List the schedules (of every workflow's latest version, or of --workflow's), with their "
        "next tick and counts of ticks fired, missed and skipped.",
        "Example: executor schedules list --workflow nightly",
    ),
)
@remote_command
def list_schedules(
    remote: Remote,
    workflow: Annotated[
        str | None, typer.Option("--workflow", "-w", metavar="NAME", help="Only this workflow's.")
    ] = None,
) -> None:
    from executor.remote import output

    found = remote.client.get("/schedules", workflow=workflow)["schedules"]
    output.listing(
        found,
        remote.form,
        [
            output.Column("WORKFLOW", lambda s: s["workflow"], no_wrap=True),
            output.Column("ID", lambda s: s["id"], no_wrap=True),
            output.Column("WHEN", _when),
            output.Column("TIMEZONE", lambda s: s["timezone"]),
            output.Column("PAUSED", lambda s: "yes" if s["paused"] else ""),
            output.Column("NEXT", lambda s: output.moment(s.get("next_tick")), no_wrap=True),
            output.Column("LAST", lambda s: output.moment(s.get("last_tick")), no_wrap=True),
            output.Column("FIRED", lambda s: str(s.get("fired", 0))),
            output.Column("MISSED", lambda s: str(s.get("missed", 0))),
            output.Column("SKIPPED", lambda s: str(s.get("skipped", 0))),
        ],
        empty="no schedules",
    )


@app.command(
    "get",
    help=help_text(
        "Show a schedule: its declaration, whether it is paused, its last and next ticks, the "
        "ticks buffered behind a running run, and the next 10 ticks.",
        "Example: executor schedules get nightly nightly",
    ),
)
@remote_command
def get_schedule(remote: Remote, workflow: WorkflowArgument, schedule: ScheduleArgument) -> None:
    from executor.remote.client import path

    show(remote, remote.client.get(path("schedules", workflow, schedule)))


def show(remote: Remote, schedule: dict[str, Any]) -> None:
    from executor.remote import output

    if remote.form is not Format.TABLE:
        output.document(schedule, remote.form)
        return
    output.fields(
        [
            ("schedule", f"{schedule['workflow']}/{schedule['id']}"),
            ("when", _when(schedule)),
            ("timezone", schedule["timezone"]),
            ("overlap", schedule["overlap"]),
            ("paused", "yes" if schedule["paused"] else "no"),
            ("input", output.compact(schedule.get("input"), 200) if schedule.get("input") else None),
            ("last tick", output.moment(schedule.get("last_tick"))),
            ("next tick", output.moment(schedule.get("next_tick"))),
            ("buffered", ", ".join(output.moment(t) for t in schedule.get("buffered") or [])),
            (
                "fired",
                f"{schedule.get('fired', 0)} (missed {schedule.get('missed', 0)}, "
                f"skipped {schedule.get('skipped', 0)})",
            ),
            ("next ticks", "\n".join(output.moment(t) for t in schedule.get("next_ticks") or [])),
        ]
    )


def _toggle(name: str, summary: str) -> None:
    @app.command(name, help=help_text(summary, f"Example: executor schedules {name} nightly nightly"))
    @remote_command
    def toggle(remote: Remote, workflow: WorkflowArgument, schedule: ScheduleArgument) -> None:
        from executor.remote.client import path

        answer = remote.client.post(path("schedules", workflow, schedule, name))
        state = "paused" if answer["paused"] else "active"
        typer.echo(f"schedule {workflow}/{schedule}: {state}", err=True)
        if remote.form is not Format.TABLE:
            show(remote, answer)

    toggle.__name__ = f"{name}_schedule"


_toggle("pause", "Pause a schedule: it stops firing; the ticks while it is paused are not caught up.")
_toggle("resume", "Resume a paused schedule: it fires again from its next tick.")


@app.command(
    "trigger",
    help=help_text(
        "Start a run of the schedule now, with its input, whatever its overlap policy; print the run's id.",
        "Example: executor schedules trigger nightly nightly",
    ),
)
@remote_command
def trigger(remote: Remote, workflow: WorkflowArgument, schedule: ScheduleArgument) -> None:
    from executor.remote import output
    from executor.remote.client import path

    run = remote.client.post(path("schedules", workflow, schedule, "trigger"))
    typer.echo(f"run {run['id']} of {run['workflow']} (version {run['version']})", err=True)
    if remote.form is Format.TABLE:
        typer.echo(run["id"])
    else:
        output.document(run, remote.form)


@app.command(
    "backfill",
    help=help_text(
        "Start the runs of the schedule's ticks from --from to --to (both included), as if it had "
        "fired then: one after another (--overlap buffer_all, the default) or all at once "
        "(allow_all). A tick that already has a run is left alone. --dry-run only lists the ticks.",
        "--from and --to take an ISO 8601 time (without an offset, in the schedule's time zone) "
        "or a duration back from now (2d). At most 1,000 ticks at once.",
        "Example: executor schedules backfill nightly nightly --from 2026-11-01 --to 2026-11-07T23:59 --dry-run",
    ),
)
@remote_command
def backfill(
    remote: Remote,
    workflow: WorkflowArgument,
    schedule: ScheduleArgument,
    start: Annotated[
        str, typer.Option("--from", metavar="TIME", help="The first time (included).", show_default=False)
    ],
    end: Annotated[
        str, typer.Option("--to", metavar="TIME", help="The last time (included).", show_default=False)
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list the ticks; start nothing.")] = False,
    overlap: Annotated[
        str | None,
        typer.Option("--overlap", metavar="POLICY", help="buffer_all (one run after another) or allow_all."),
    ] = None,
) -> None:
    from executor.remote import output
    from executor.remote.client import path
    from executor.remote.values import parse_time

    body: dict[str, Any] = {
        "from": parse_time(start, "--from", naive_local=False),
        "to": parse_time(end, "--to", naive_local=False),
        "dry_run": dry_run,
    }
    if overlap is not None:
        body["overlap"] = overlap
    answer = remote.client.post(path("schedules", workflow, schedule, "backfill"), body)
    ticks = answer["ticks"]
    if dry_run:
        typer.echo(f"{len(ticks)} tick(s) of {workflow}/{schedule}; dry run: nothing started", err=True)
    else:
        typer.echo(
            f"{len(ticks)} tick(s) of {workflow}/{schedule}: {answer['started']} run(s) started, "
            f"{answer['buffered']} buffered, {answer['existing']} already had a run",
            err=True,
        )
    if remote.form is Format.TABLE:
        for tick in ticks:
            typer.echo(tick)
    else:
        output.document(answer, remote.form)
