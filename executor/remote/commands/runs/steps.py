"""`executor runs cancel-step|retry-step`: acting on one step of a run."""

from __future__ import annotations

from typing import Annotated

import typer

from executor.remote.commands.runs.app import RunArgument, app
from executor.remote.options import Format, Remote, help_text, remote_command

StepArgument = Annotated[str, typer.Argument(metavar="STEP", help="The step's id.", show_default=False)]


@app.command(
    "cancel-step",
    help=help_text(
        "Cancel one step of a run that has not finished (pending, queued, running or waiting): a "
        "running command is killed, a child run cancelled. The run goes on: the step's dependents "
        "follow their trigger rules (a cancelled step counts as skipped). --item N cancels only item "
        "N of a for_each step; the step goes on with its other items.",
        "Example: executor runs cancel-step 0b5e6f0c-... deploy",
    ),
)
@remote_command
def cancel_step(
    remote: Remote,
    run: RunArgument,
    step: StepArgument,
    item: Annotated[
        int | None, typer.Option("--item", min=0, metavar="N", help="Only item N of a for_each step.")
    ] = None,
) -> None:
    from executor.remote.client import path

    answer = remote.client.call("POST", path("runs", run, "steps", step, "cancel"), params={"item": item})[1]
    what = f"step {step}" + ("" if item is None else f" item {item}")
    _report(remote, answer, f"cancelled {what} of run {run}")


@app.command(
    "retry-step",
    help=help_text(
        "Run a failed, cancelled or skipped step again, with every step that depends on it; the "
        "other steps keep their outcomes. A failed run runs again.",
        "Example: executor runs retry-step 0b5e6f0c-... build",
    ),
)
@remote_command
def retry_step(remote: Remote, run: RunArgument, step: StepArgument) -> None:
    from executor.remote.client import path

    answer = remote.client.post(path("runs", run, "steps", step, "retry"))
    _report(remote, answer, f"retried step {step} of run {run}")


def _report(remote: Remote, run: dict[str, object], done: str) -> None:
    """One line on stderr; the run on stdout with -o json|jsonl."""
    from executor.remote import output

    typer.echo(f"{done}: run now {run['status']}", err=True)
    if remote.form is not Format.TABLE:
        output.document(run, remote.form)
