"""Which files of an attempt become artifacts, and under which names.

A name is the file's path relative to where it was found (the attempt's artifacts
directory, or the step's working directory for an ``artifacts:`` path), with ``/``
between parts: ``report.html``, ``dist/app.whl``. Only regular files count; a symbolic
link counts as the file it points to. Names are checked here once, so that whoever later
writes a file by its name (``artifacts_from``, ``runs artifacts --download``) can trust it
to stay inside the folder it is written to.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

from executor.errors import ArtifactRefused

# More files than this from one attempt is a mistake (a build tree copied whole), not a
# set of artifacts: refused with a clear error rather than thousands of rows.
MAX_FILES = 1000
MAX_NAME = 512
GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class Collected:
    name: str
    path: Path
    size: int


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an artifact's name (None: it can): a relative path of plain
    parts, no ``..``, no absolute path, no control characters."""
    if not name or len(name) > MAX_NAME:
        return f"a name has 1 to {MAX_NAME} characters"
    if any(ord(c) < 32 or c in "\\\x7f" for c in name):
        return "a name has no control characters nor backslashes"
    path = PurePosixPath(name)
    if path.is_absolute() or any(part in ("", ".", "..") for part in name.split("/")):
        return "a name is a relative path without '.' or '..' parts"
    return None


def collect(folder: Path | None, patterns: tuple[str, ...], cwd: Path) -> list[Collected]:
    """The files in ``folder`` (the attempt's artifacts directory, walked whole), then those
    ``patterns`` match under ``cwd`` (a directory matched brings its files). A literal path
    that does not exist, two files of one name, or too many files are `ArtifactRefused`."""
    found: dict[str, Collected] = {}

    def add(path: Path, name: str) -> None:
        problem = name_problem(name)
        if problem is not None:
            raise ArtifactRefused(f"artifact {name!r}: {problem}")
        if name in found:
            if found[name].path.resolve() != path.resolve():
                raise ArtifactRefused(f"two artifacts are named {name!r} ({found[name].path} and {path})")
            return  # found twice (a glob matched it and its folder): one artifact
        if len(found) >= MAX_FILES:
            raise ArtifactRefused(f"more than {MAX_FILES} artifacts from one attempt")
        found[name] = Collected(name, path, path.stat().st_size)

    def walk(root: Path, base: Path) -> None:
        for dirpath, _, filenames in os.walk(root, followlinks=False):
            for filename in sorted(filenames):
                path = Path(dirpath, filename)
                if path.is_file():  # a regular file, or a link to one
                    add(path, path.relative_to(base).as_posix())

    if folder is not None:
        walk(folder, folder)
    for pattern in patterns:
        if not GLOB_CHARS & set(pattern):
            path = cwd / pattern
            if not path.exists():
                raise ArtifactRefused(f"artifacts: {pattern!r}: no such file in {cwd}")
            matches = [path]
        else:
            matches = _glob(cwd, pattern)
        for path in matches:
            if path.is_dir():
                walk(path, cwd)
            elif path.is_file():
                add(path, path.relative_to(cwd).as_posix())
    return list(found.values())


def _glob(cwd: Path, pattern: str) -> list[Path]:
    """The paths ``pattern`` matches under ``cwd``, as a shell's glob (``**`` any number of
    folders, files included; names starting with ``.`` only where the pattern's part does).
    Not `glob.glob`: its ``**`` follows links to folders, and two links to ``.`` made it walk
    without end. pathlib's ``**`` never enters a linked folder."""
    parts = [part for part in pattern.split("/") if part not in ("", ".")]
    if parts and parts[-1] == "**":
        parts.append("*")  # pathlib's trailing `**` matches folders only
    dotted = [part for part in parts if part.startswith(".")]
    return sorted(
        match
        for match in cwd.glob("/".join(parts))
        if all(
            not name.startswith(".") or any(fnmatchcase(name, part) for part in dotted)
            for name in match.relative_to(cwd).parts
        )
    )
