"""`executor workflows ...`: list, read and register (push) workflow versions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from executor.remote.options import Format, Remote, group, help_text, remote_command

app = group(
    "workflows",
    "List, inspect and register (push) workflows on a running Executor.",
)

NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="The workflow's name.", show_default=False)]


@app.command(
    "list",
    help=help_text("List the workflows: the latest version of each.", "Example: executor workflows list"),
)
@remote_command
def list_workflows(remote: Remote) -> None:
    from executor.remote import output

    found = remote.client.get("/workflows")["workflows"]
    output.listing(
        found,
        remote.form,
        [
            output.Column("NAME", lambda w: w["name"], no_wrap=True),
            output.Column("VERSION", lambda w: str(w["version"])),
            output.Column("STEPS", lambda w: str(len(w["definition"].get("steps") or []))),
            output.Column("SCHEDULES", lambda w: str(len(w["definition"].get("schedules") or []))),
            output.Column("CREATED", lambda w: output.moment(w.get("created_at")), no_wrap=True),
            output.Column("RUNS", lambda w: _runs(w.get("runs"))),
            output.Column("DESCRIPTION", lambda w: w.get("description") or ""),
        ],
        empty="no workflows",
    )


def _runs(counts: dict[str, int] | None) -> str:
    """``3 succeeded, 1 failed``: the runs kept, by status."""
    return ", ".join(f"{count} {status}" for status, count in (counts or {}).items())


@app.command(
    "get",
    help=help_text(
        "Show a workflow: its latest version, or --version N. --source prints the definition as "
        "it was registered (YAML), ready to edit and push again.",
        "Example: executor workflows get nightly --source > nightly.yaml",
    ),
)
@remote_command
def get_workflow(
    remote: Remote,
    name: NameArgument,
    version: Annotated[
        int | None, typer.Option("--version", min=1, metavar="N", help="This version.")
    ] = None,
    source: Annotated[bool, typer.Option("--source", help="Print only the definition's source.")] = False,
) -> None:
    from executor.remote import output
    from executor.remote.client import path

    url = path("workflows", name) if version is None else path("workflows", name, "versions", version)
    workflow = remote.client.get(url)
    if source:
        text = workflow["source"]
        typer.echo(text, nl=not text.endswith("\n"))
    elif remote.form is not Format.TABLE:
        output.document(workflow, remote.form)
    else:
        definition = workflow["definition"]
        output.fields(
            [
                ("name", workflow["name"]),
                ("version", str(workflow["version"])),
                ("created", output.moment(workflow.get("created_at"))),
                ("digest", workflow.get("digest")),
                ("description", workflow.get("description")),
                ("steps", ", ".join(str(step.get("id")) for step in definition.get("steps") or [])),
                ("schedules", ", ".join(str(s.get("id")) for s in definition.get("schedules") or [])),
            ]
        )


@app.command(
    "versions",
    help=help_text(
        "List every version of a workflow, newest first.", "Example: executor workflows versions nightly"
    ),
)
@remote_command
def versions(remote: Remote, name: NameArgument) -> None:
    from executor.remote import output
    from executor.remote.client import path

    found = remote.client.get(path("workflows", name, "versions"))["versions"]
    output.listing(
        found,
        remote.form,
        [
            output.Column("VERSION", lambda w: str(w["version"])),
            output.Column("CREATED", lambda w: output.moment(w.get("created_at")), no_wrap=True),
            output.Column("DIGEST", lambda w: str(w.get("digest") or "")),
        ],
    )


@app.command(
    "push",
    help=help_text(
        "Register workflow files (YAML, or JSON for a .json file) as new versions, and print each "
        "one's name and version. A file the server already has, unchanged, keeps its version.",
        "Warnings (valid but risky, e.g. a run input pasted into a shell command) are printed on "
        "stderr as FILE:LINE: warning: PATH: MESSAGE; the workflow is registered all the same. An "
        "invalid file is reported with every problem, and the others are still pushed (exit 1).",
        "Example: executor workflows push flows/*.yaml",
    ),
)
@remote_command
def push(
    remote: Remote,
    files: Annotated[
        list[Path], typer.Argument(metavar="FILE...", help="Workflow files.", show_default=False)
    ],
) -> None:
    from executor.errors import ExecutorError
    from executor.remote import output

    answers: list[dict[str, Any]] = []
    failed = False
    for file in files:
        try:
            content = file.read_bytes()
        except OSError as exc:
            typer.echo(f"executor: error: {file}: cannot read: {exc.strerror}", err=True)
            failed = True
            continue
        kind = "application/json" if file.suffix.lower() == ".json" else "application/yaml"
        try:
            code, answer = remote.client.call("POST", "/workflows", content=content, content_type=kind)
        except ExecutorError as exc:
            typer.echo(f"executor: error: {file}: {exc.message}", err=True)
            failed = True
            continue
        for warning in answer.get("warnings") or []:
            where = f"{file}:{warning['line']}" if warning.get("line") else str(file)
            typer.echo(f"{where}: warning: {warning['path']}: {warning['message']}", err=True)
        answers.append(answer)
        state = "new" if code == 201 else "unchanged"
        if remote.form is Format.TABLE:
            typer.echo(f"{answer['name']} version {answer['version']} ({state})")
    if remote.form is Format.JSONL:
        for answer in answers:
            output.document(answer, remote.form)
    elif remote.form is Format.JSON:
        output.document(answers[0] if len(files) == 1 and answers else answers, remote.form)
    if failed:
        raise typer.Exit(1)
