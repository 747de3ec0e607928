"""`executor runs artifacts`: a run's artifacts, listed or downloaded into a folder.

A download writes each artifact to ``DIR/<step>/<name>`` (a for_each item's to
``DIR/<step>/<item>/<name>``): streamed into a temporary file beside it, a piece at a time,
checked against the sha256 the list gave, then renamed into place, so that a file there is
whole and verified (a file of that name already there is replaced). Names come from the
server and are checked here as any input is: one that would land outside ``DIR`` (an
absolute path, a ``..`` part, a symbolic link in ``DIR`` that leads elsewhere) is refused
before anything is written for it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from executor.remote.commands.runs.app import RunArgument, app
from executor.remote.options import Format, Remote, help_text, remote_command

if TYPE_CHECKING:
    from executor.remote.client import Client


@app.command(
    "artifacts",
    help=help_text(
        "List the files a run's steps left (their artifacts), or with --download DIR save them "
        "there: DIR/STEP/NAME, a for_each step's as DIR/STEP/ITEM/NAME. Each is streamed to disk "
        "and checked against its sha256; one that would land outside DIR is refused.",
        "-o json|jsonl prints each artifact as an object: step, item, name, size, sha256, "
        "media_type, attempt, created_at, url (and path, where --download saved it).",
        "Example: executor runs artifacts 0b5e6f0c-... --step build --download ./out",
    ),
)
@remote_command
def artifacts(
    remote: Remote,
    run: RunArgument,
    step: Annotated[
        str | None, typer.Option("--step", "-s", metavar="STEP", help="Only this step's artifacts.")
    ] = None,
    download: Annotated[
        Path | None,
        typer.Option(
            "--download",
            "-d",
            metavar="DIR",
            help="Save them into this folder (made if missing).",
            file_okay=False,
        ),
    ] = None,
) -> None:
    from executor.remote import output
    from executor.remote.client import path

    listed = [
        artifact
        for artifact in remote.client.get(path("runs", run, "artifacts"))["artifacts"]
        if step is None or artifact["step"] == step
    ]
    empty = f"run {run} has no artifacts" + (f" of step {step}" if step is not None else "")
    if download is None:
        output.listing(listed, remote.form, _columns(), empty=empty)
        return
    if not listed:
        typer.echo(empty, err=True)
        return
    saved = _saved(remote.client, run, listed, download)
    if remote.form is Format.TABLE:
        for artifact in saved:
            print(artifact["path"], flush=True)
    else:
        output.listing(saved, remote.form, [])
    total = sum(int(artifact["size"]) for artifact in listed)
    count = f"{len(listed)} artifact{'' if len(listed) == 1 else 's'}"
    typer.echo(f"downloaded {count} ({output.size(total)}) into {download}", err=True)


def _columns() -> list[Any]:
    from executor.remote.output import Column, moment, size

    return [
        Column(
            "STEP", lambda a: a["step"] if a["item"] is None else f"{a['step']}[{a['item']}]", no_wrap=True
        ),
        Column("NAME", lambda a: a["name"]),
        Column("SIZE", lambda a: size(int(a["size"])), no_wrap=True),
        Column("TYPE", lambda a: a["media_type"], no_wrap=True),
        Column("SHA256", lambda a: a["sha256"][:12], no_wrap=True),
        Column("CREATED", lambda a: moment(a.get("created_at")), no_wrap=True),
    ]


def _saved(client: Client, run: str, listed: list[dict[str, Any]], root: Path) -> Iterator[dict[str, Any]]:
    """Download each of ``listed`` under ``root``; each, with its ``path``, once saved."""
    from executor.remote.client import RemoteError, path

    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RemoteError(f"cannot make the folder {root}: {exc.strerror or exc}") from None
    for artifact in listed:
        item, name = artifact["item"], str(artifact["name"])
        parts = [str(artifact["step"]), *([] if item is None else [_index(item)]), *name.split("/")]
        folder = _folder(root, parts[:-1], name)
        url = path("runs", run, "artifacts", artifact["step"], name)
        target = folder / parts[-1]
        _write(client.download(url, item=item), target, str(artifact["sha256"]), name)
        yield {**artifact, "path": str(target)}


def _index(item: Any) -> str:
    if not isinstance(item, int) or isinstance(item, bool) or item < 0:
        raise ValueError(f"an item index is {item!r}")  # not the API's answer
    return str(item)


def _refused(name: str, why: str) -> Exception:
    from executor.remote.client import RemoteError

    return RemoteError(f"artifact {name!r} not saved: {why}")


def _folder(root: Path, parts: list[str], name: str) -> Path:
    """``root/parts...``, each folder made when missing; refused when a part is not a plain
    name, or is a link or a file already there (it could lead anywhere)."""
    folder = root
    for part in parts:
        if part in ("", ".", "..") or any(c in "/\\" or ord(c) < 32 or c == "\x7f" for c in part):
            raise _refused(name, f"{part!r} would lead out of {root}")
        folder = folder / part
        try:
            folder.mkdir(exist_ok=True)
        except OSError:
            pass  # told below, the same way as a file or a link
        if folder.is_symlink() or not folder.is_dir():
            raise _refused(name, f"{folder} is not a folder of {root} (a file, or a link)")
    return folder


def _write(pieces: Iterator[bytes], target: Path, sha256: str, name: str) -> None:
    """Stream ``pieces`` into ``target`` through a temporary file beside it, kept only when
    its sha256 is the one listed."""
    from executor.remote.client import RemoteError

    if target.name in ("", ".", "..") or any(ord(c) < 32 or c in "\\\x7f" for c in target.name):
        raise _refused(name, f"{target.name!r} is not a file name")
    try:
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".executor-download-")
    except OSError as exc:
        raise RemoteError(f"cannot write into {target.parent}: {exc.strerror or exc}") from None
    digest = hashlib.sha256()
    try:
        os.fchmod(handle, 0o666 & ~_umask())  # as any new file, not mkstemp's 0600
        with os.fdopen(handle, "wb") as sink:
            for piece in pieces:
                digest.update(piece)
                sink.write(piece)
        if digest.hexdigest() != sha256:
            raise RemoteError(
                f"artifact {name!r} not saved: its sha256 is {digest.hexdigest()}, the server listed {sha256}"
            )
        # Replaces a link of that name, never what it points to.
        os.replace(temporary, target)
    except OSError as exc:
        raise RemoteError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        Path(temporary).unlink(missing_ok=True)


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current
