"""`executor runs start`: start a run, and with --wait or --follow watch it to its end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from executor.remote.commands.runs.app import app
from executor.remote.options import EXIT_INTERRUPTED, Format, Remote, help_text, remote_command
from executor.statuses import RunStatus


@app.command(
    "start",
    help=help_text(
        "Start a run of WORKFLOW (its latest version unless --version) and print its id.",
        "The input is --input (a JSON object) or --input-file (one in a file, - for stdin), "
        "with -i key=value on top (VALUE is JSON when it parses as JSON, else a string).",
        "--wait waits for the run to end and exits as `executor run` does: 0 when it succeeded "
        "(its outputs as JSON on stdout), 1 otherwise ({status, error}); each step's progress on "
        "stderr. --follow waits too, and streams every step's log lines (on stderr) as they are "
        "written. Ctrl-C stops waiting (exit 130); the run goes on.",
        "Example: executor runs start nightly -i day=2026-11-01 --follow",
        "Example: executor runs start deploy --input-file input.json --idempotency-key deploy-42 --wait",
    ),
)
@remote_command
def start(
    remote: Remote,
    workflow: Annotated[str, typer.Argument(metavar="WORKFLOW", help="The workflow to run.")],
    input_json: Annotated[
        str | None, typer.Option("--input", metavar="JSON", help="The run's input, a JSON object.")
    ] = None,
    input_file: Annotated[
        Path | None,
        typer.Option(
            "--input-file", metavar="FILE", help="Read the input (a JSON object) from FILE; - is stdin."
        ),
    ] = None,
    inputs: Annotated[
        list[str] | None,
        typer.Option("-i", "--set", metavar="KEY=VALUE", help="Set one input field (repeatable)."),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key",
            metavar="KEY",
            help="Start at most one run per key and workflow: again, it answers with that run.",
        ),
    ] = None,
    version: Annotated[
        int | None, typer.Option("--version", min=1, metavar="N", help="Run this version of the workflow.")
    ] = None,
    priority: Annotated[
        int | None,
        typer.Option("--priority", min=-1000, max=1000, metavar="P", help="Higher runs are claimed first."),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the run to end; exit 0 if it succeeded.")
    ] = False,
    follow: Annotated[
        bool,
        typer.Option("--follow", "-f", help="Stream its steps' log lines as they come (implies --wait)."),
    ] = False,
) -> None:
    from executor.remote import output
    from executor.remote.values import run_input

    given = run_input(input_json, None if input_file is None else str(input_file), inputs or [])
    body: dict[str, Any] = {"workflow": workflow, "input": given}
    if idempotency_key is not None:
        body["idempotency_key"] = idempotency_key
    if version is not None:
        body["version"] = version
    if priority is not None:
        body["priority"] = priority
    code, run = remote.client.call("POST", "/runs", body=body)
    if code == 201:
        typer.echo(f"run {run['id']} of {run['workflow']} (version {run['version']})", err=True)
    else:
        typer.echo(
            f"run {run['id']} of {run['workflow']} already started with this idempotency key ({run['status']})",
            err=True,
        )
    if not (wait or follow):
        if remote.form is Format.TABLE:
            typer.echo(run["id"])
        else:
            output.document(run, remote.form)
        return
    raise typer.Exit(wait_for(remote, run["id"], follow))


def wait_for(remote: Remote, run_id: str, follow: bool) -> int:
    """Watch the run to its end; print what `executor run` prints; the exit code."""
    import json

    from executor.remote import output
    from executor.remote.watch import Watch

    try:
        final = Watch(remote.client, run_id, follow=follow).until_final()
    except KeyboardInterrupt:
        typer.echo(
            f"stopped waiting: run {run_id} goes on (executor runs get {run_id}; executor runs cancel {run_id})",
            err=True,
        )
        return EXIT_INTERRUPTED
    succeeded = final["status"] == RunStatus.SUCCEEDED
    took = output.took(final.get("started_at") or final.get("created_at"), final.get("finished_at"))
    error = f": {final['error']}" if final.get("error") else ""
    typer.echo(f"run {run_id} {final['status']} in {took}{error}", err=True)
    if remote.form is not Format.TABLE:
        output.document(final, remote.form)
    elif succeeded:
        typer.echo(json.dumps(final.get("outputs"), indent=2, default=str))
    else:
        typer.echo(json.dumps({"status": final["status"], "error": final.get("error")}, indent=2))
    return 0 if succeeded else 1
