"""`executor runs start-batch`: start many runs from a file, up to 1,000 per request
(POST /runs/batch), and print what became of each."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from executor.remote.commands.runs.app import app
from executor.remote.options import Format, Remote, help_text, remote_command

MAX_BATCH = 1000  # runs the API takes per request
# A field path of an answer names the run within its request (`$.runs[3].input.n`); printed,
# it names the item of the file instead (`$[1003].input.n`).
_IN_REQUEST = re.compile(r"\$\.runs\[(\d+)\]")


@app.command(
    "start-batch",
    help=help_text(
        "Start the runs FILE lists and print what became of each: started, already started "
        "(its idempotency key's run) or refused, and why.",
        "FILE (- for stdin) is a JSON array, or JSON Lines (one object per line), of runs as "
        'POST /runs takes them: {"workflow": "nightly", "input": {...}, "idempotency_key": "...", '
        '"version": 3, "priority": 10}; only workflow is required. They are sent --chunk at a time '
        "(at most 1,000), each chunk one transaction; a run refused (an unknown workflow, an input "
        "its workflow refuses) does not keep the others from starting. Field paths name items of "
        "FILE, counted from 0: $[1003].input.day.",
        "Exit 0 when every run started or had started; 1 when any was refused (a chunk the "
        "server refused whole, e.g. for a field it does not know, counts as refused, and the "
        "next chunks are still sent). With idempotency keys, sending the file again is safe.",
        "Example: executor runs start-batch runs.jsonl",
        "Example: jq -c '.[] | {workflow: \"resize\", input: {image: .}}' images.json | "
        "executor runs start-batch - -o jsonl",
    ),
)
@remote_command
def start_batch(
    remote: Remote,
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="The runs: a JSON array or JSON Lines; - is stdin.")
    ],
    chunk: Annotated[
        int,
        typer.Option("--chunk", min=1, max=MAX_BATCH, metavar="N", help="Runs per request."),
    ] = MAX_BATCH,
) -> None:
    from executor.remote import output

    items = read_items(str(file))
    counts = dict.fromkeys(_STYLES, 0)

    def counted() -> Iterator[dict[str, Any]]:
        for result in submit(remote, items, chunk):
            counts[_kind(result)] += 1
            yield result

    # JSON Lines as each chunk is answered; a table or a JSON document once all are.
    output.listing(counted(), remote.form, _columns() if remote.form is Format.TABLE else ())
    typer.echo(
        f"{counts['started']} started, {counts['existing']} already started, "
        f"{counts['refused']} refused, of {len(items)} run(s)",
        err=True,
    )
    if counts["refused"]:
        raise typer.Exit(1)


def read_items(path: str) -> list[dict[str, Any]]:
    """The runs of the file: a JSON array, else JSON Lines (blank lines skipped). Anything
    else is a usage error naming where it is wrong; nothing is sent then."""
    from executor.errors import ConfigError
    from executor.remote.values import check_value, read_text

    text = read_text(path, "FILE")
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise ConfigError("FILE", f"not a JSON array: {exc}") from None
        found: list[tuple[str, Any]] = [(f"item {n}", item) for n, item in enumerate(parsed)]
    else:
        found = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    found.append((f"line {number}", json.loads(line)))
                except (ValueError, RecursionError) as exc:
                    raise ConfigError("FILE", f"line {number} is not JSON: {exc}") from None
    if not found:
        raise ConfigError("FILE", "it lists no runs")
    for where, item in found:
        if not isinstance(item, dict):
            raise ConfigError("FILE", f"{where} is not a JSON object (a run, as POST /runs takes it)")
        check_value(item, f"FILE ({where})", depth=2)  # in the body's runs
    return [item for _, item in found]


def submit(remote: Remote, items: list[dict[str, Any]], chunk: int) -> Iterator[dict[str, Any]]:
    """POST the items ``chunk`` at a time; each one's result, ``index`` its place in ``items``.
    A chunk over the server's body limit is sent again in halves (a 413 starts nothing). A
    chunk refused whole is each of its runs' result, and the next chunks are sent; once the
    server cannot be reached, nothing more is sent (status None: no answer)."""
    from executor.remote.client import ApiError, Unreachable

    pending = [(start, items[start : start + chunk]) for start in range(0, len(items), chunk)]
    while pending:
        start, part = pending.pop(0)
        try:
            answer = remote.client.post("/runs/batch", {"runs": part})
        except ApiError as exc:
            if exc.http_status == 413 and len(part) > 1:
                half = len(part) // 2
                pending[:0] = [(start, part[:half]), (start + half, part[half:])]
                continue
            if exc.http_status in (401, 403):
                raise
            error = _error({"code": exc.code, "message": exc.reason, "details": exc.details}, start)
            yield from (
                {"index": start + n, "status": exc.http_status, "error": error} for n in range(len(part))
            )
            continue
        except Unreachable as exc:
            # This request's runs may have started (the answer was lost) or not: with
            # idempotency keys, sending the file again tells. The later ones were not sent.
            lost = {"code": exc.code, "message": f"{exc.message}; this request's runs may have started"}
            unsent = {"code": exc.code, "message": "not sent: the server could not be reached"}
            yield from ({"index": start + n, "status": None, "error": lost} for n in range(len(part)))
            for later, rest in pending:
                yield from ({"index": later + n, "status": None, "error": unsent} for n in range(len(rest)))
            return
        for result in answer["results"]:
            if "error" in result:
                result["error"] = _error(result["error"], start)
            yield {**result, "index": start + int(result["index"])}


def _global(text: str, start: int) -> str:
    return _IN_REQUEST.sub(lambda m: f"$[{start + int(m.group(1))}]", text)


def _error(error: dict[str, Any], start: int) -> dict[str, Any]:
    details = [{**d, "path": _global(str(d.get("path", "")), start)} for d in error.get("details") or []]
    fixed = {**error, "message": _global(str(error.get("message", "")), start)}
    return {**fixed, "details": details} if details else fixed


_STYLES = {"started": "green", "existing": "dim", "refused": "red"}


def _kind(result: dict[str, Any]) -> str:
    if "run" in result:
        return "started" if result["status"] == 201 else "existing"
    return "refused"


def _columns() -> list[Any]:
    from rich.text import Text

    from executor.remote import output

    def error(result: dict[str, Any]) -> str:
        given, status = result.get("error"), result["status"]
        if not given:
            return ""
        return (
            f"{given['code']}: {given['message']}"
            if status is None
            else f"{given['code']} ({status}): {given['message']}"
        )

    return [
        output.Column("ITEM", lambda r: str(r["index"]), no_wrap=True),
        output.Column("RESULT", lambda r: Text(_kind(r), style=_STYLES[_kind(r)]), no_wrap=True),
        output.Column("RUN", lambda r: r["run"]["id"] if "run" in r else "", no_wrap=True),
        output.Column("ERROR", error),
    ]
