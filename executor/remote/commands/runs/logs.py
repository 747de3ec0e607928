"""`executor runs logs`: a step's log lines, printed or followed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from executor.remote.commands.runs.app import RunArgument, app
from executor.remote.options import Format, Remote, help_text, remote_command

if TYPE_CHECKING:
    from executor.remote.client import Client


@app.command(
    "logs",
    help=help_text(
        "Print a step's log lines (every attempt's, in order), or with -f follow them as they are "
        "written until the step ends. --item N reads item N of a for_each step.",
        "-o jsonl prints each line as an object: id, attempt, stream (stdout, stderr, system), line, time.",
        "Example: executor runs logs 0b5e6f0c-... build -f",
    ),
)
@remote_command
def logs(
    remote: Remote,
    run: RunArgument,
    step: Annotated[str, typer.Argument(metavar="STEP", help="The step's id.")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Follow until the step ends.")] = False,
    item: Annotated[
        int | None, typer.Option("--item", min=0, metavar="N", help="Item N of a for_each step.")
    ] = None,
) -> None:
    from executor.remote import output
    from executor.remote.watch import follow_logs

    lines = (
        follow_logs(remote.client, run, step, -1 if item is None else item)
        if follow
        else _read_logs(remote.client, run, step, item)
    )
    if remote.form is Format.TABLE:
        for line in lines:
            print(line["line"], flush=follow)
        return
    output.listing(lines, remote.form, [])


def _read_logs(client: Client, run: str, step: str, item: int | None) -> Iterator[dict[str, Any]]:
    from executor.remote.client import path

    after = 0
    while True:
        page = client.get(path("runs", run, "steps", step, "logs"), item=item, after=after or None)
        yield from page["lines"]
        if not page["lines"] or page["next"] == after:
            return
        after = page["next"]
