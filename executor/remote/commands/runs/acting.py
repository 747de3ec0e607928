"""`executor runs cancel|pause|resume|retry|signal`: acting on runs, by id or (cancel and
retry) on every run a filter selects."""

from __future__ import annotations

from typing import Annotated, Any

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


def _act(name: str, verb: str, summary: str, example: str) -> None:
    @app.command(name, help=help_text(summary, f"Example: {example}"))
    @remote_command
    def act(
        remote: Remote,
        runs: Annotated[
            list[str], typer.Argument(metavar="RUN...", help="The runs' ids.", show_default=False)
        ],
    ) -> None:
        act_on(remote, name, verb, runs)

    act.__name__ = f"{name}_runs"


def _act_or_bulk(name: str, verb: str, summary: str, examples: tuple[str, ...]) -> None:
    paragraphs = (
        summary,
        "Give run ids, or a filter to act on every run it selects that was created before now "
        "(--dry-run: only count them). " + TIMES_HELP,
        *(f"Example: {example}" for example in examples),
    )

    @app.command(name, help=help_text(*paragraphs))
    @remote_command
    def act(
        remote: Remote,
        runs: Annotated[
            list[str] | None,
            typer.Argument(
                metavar="[RUN]...", help="The runs' ids (or a filter instead).", show_default=False
            ),
        ] = None,
        workflow: WorkflowFilter = None,
        status: StatusFilter = None,
        trigger: TriggerFilter = None,
        parent: ParentFilter = None,
        since: SinceFilter = None,
        until: UntilFilter = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="With a filter: count the runs it selects; change nothing.")
        ] = False,
    ) -> None:
        from executor.errors import ConfigError

        filters = {
            key: value
            for key, value in run_filter(workflow, status, trigger, parent, since, until).items()
            if value is not None
        }
        if runs and (filters or dry_run):
            raise ConfigError("RUN", "give run ids or a filter, not both")
        if runs:
            act_on(remote, name, verb, runs)
        elif filters:
            bulk(remote, name, verb, filters, dry_run)
        else:
            raise ConfigError(
                "RUN", f"give the ids of the runs to {name}, or a filter (--workflow, --status, --since, ...)"
            )

    act.__name__ = f"{name}_runs"


def act_on(remote: Remote, name: str, verb: str, runs: list[str]) -> None:
    """POST the action to each run; one line per run on stderr; exit 1 if any failed."""
    from executor.errors import ExecutorError
    from executor.remote import output
    from executor.remote.client import Unreachable, path

    failed = False
    answers = []
    for run_id in runs:
        try:
            run = remote.client.post(path("runs", run_id, name))
        except Unreachable:
            raise
        except ExecutorError as exc:
            typer.echo(f"executor: error: {exc.message}", err=True)
            failed = True
            continue
        answers.append(run)
        typer.echo(f"{verb} run {run_id}: now {run['status']}", err=True)
    if remote.form is Format.JSONL:
        for answer in answers:
            output.document(answer, remote.form)
    elif remote.form is Format.JSON:
        output.document(answers[0] if len(runs) == 1 and answers else answers, remote.form)
    if failed:
        raise typer.Exit(1)


def bulk(remote: Remote, name: str, verb: str, filters: dict[str, Any], dry_run: bool) -> None:
    from executor.remote import output

    answer = remote.client.post(f"/runs/bulk/{name}", {"filter": filters, "dry_run": dry_run})
    if dry_run:
        typer.echo(f"{answer['matched']} run(s) to {name}; dry run: nothing changed", err=True)
    else:
        skipped = f" ({answer['skipped']} had changed meanwhile)" if answer.get("skipped") else ""
        typer.echo(f"{verb} {answer['changed']} of {answer['matched']} run(s){skipped}", err=True)
        for failure in answer.get("failed") or []:
            typer.echo(f"executor: error: run {failure['run_id']}: {failure['error']}", err=True)
    if remote.form is not Format.TABLE:
        output.document(answer, remote.form)
    elif not dry_run:
        for run_id in answer.get("run_ids") or []:
            typer.echo(run_id)
    if answer.get("failed"):
        raise typer.Exit(1)


_act_or_bulk(
    "cancel",
    "cancelled",
    "Cancel runs: steps still to run never start, running ones are stopped (their commands killed).",
    (
        "executor runs cancel 0b5e6f0c-...",
        "executor runs cancel --workflow nightly --status pending --dry-run",
    ),
)
_act(
    "pause",
    "paused",
    "Pause runs: no step of theirs is claimed until they are resumed (running steps finish).",
    "executor runs pause 0b5e6f0c-...",
)
_act("resume", "resumed", "Resume paused runs.", "executor runs resume 0b5e6f0c-...")
_act_or_bulk(
    "retry",
    "retried",
    "Retry failed runs from their failed steps; the steps that succeeded keep their outputs.",
    ("executor runs retry 0b5e6f0c-...", "executor runs retry --workflow nightly --status failed --since 1d"),
)


@app.command(
    "signal",
    help=help_text(
        "Send the signal NAME to a run, with an optional JSON payload: a `wait` step waiting for it "
        "takes it; one sent early is kept until a step waits for it.",
        'Example: executor runs signal 0b5e6f0c-... approved --payload \'{"by": "ana"}\'',
    ),
)
@remote_command
def signal(
    remote: Remote,
    run: RunArgument,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The signal's name.")],
    payload: Annotated[
        str | None, typer.Option("--payload", "-p", metavar="JSON", help="The signal's payload (any JSON).")
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key",
            metavar="K",
            help="Send the signal once per key: the same command run again sends nothing more.",
        ),
    ] = None,
) -> None:
    from executor.remote import output
    from executor.remote.client import path
    from executor.remote.values import parse_json

    body: dict[str, Any] = {} if payload is None else {"payload": parse_json(payload, "--payload")}
    if idempotency_key is not None:
        body["idempotency_key"] = idempotency_key
    answer = remote.client.post(path("runs", run, "signals", name), body)
    how = "delivered to a waiting step" if answer["delivered"] else "kept until a step waits for it"
    typer.echo(f"signal {name} sent to run {run}: {how}", err=True)
    if remote.form is not Format.TABLE:
        output.document(answer, remote.form)
