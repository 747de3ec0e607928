"""What remote commands print: tables for people, JSON for scripts.

``-o table`` (the default) draws a table with rich; ``-o json`` prints one JSON document
(a list for a list command); ``-o jsonl`` one compact object per line (a list streamed item
by item, so ``--all`` over a long history starts printing at once). Only the result goes to
stdout; messages and errors go to stderr, so a script can pipe stdout into ``jq`` as is.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from executor.remote.options import Format
from executor.sizes import format_size

if TYPE_CHECKING:  # rich is imported when a table is drawn: JSON output never pays for it
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

STATUS_STYLES = {
    "succeeded": "green",
    "failed": "red",
    "cancelled": "magenta",
    "running": "yellow",
    "waiting": "cyan",
    "draining": "yellow",
    "stopped": "dim",
    "paused": "cyan",
    "queued": "blue",
    "pending": "blue",
    "skipped": "dim",
}


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[Any], str | Text]
    no_wrap: bool = False


def console(out: TextIO | None = None) -> Console:
    """A console on stdout; piped, as wide as its lines need (a pipe has no width to fit)."""
    from rich.console import Console

    out = out or sys.stdout
    width = None if out.isatty() else max(shutil.get_terminal_size().columns, 1000)
    return Console(file=out, width=width, soft_wrap=False, highlight=False)


def document(value: Any, form: Format) -> None:
    """One JSON value: indented for json, one line for jsonl; tables are the caller's."""
    if form is Format.JSONL:
        print(json.dumps(value, separators=(",", ":")), flush=True)
    else:
        print(json.dumps(value, indent=2), flush=True)


def listing(items: Iterable[Any], form: Format, columns: Sequence[Column], empty: str = "") -> int:
    """Print ``items`` in ``form``; return how many there were."""
    if form is Format.JSONL:
        count = 0
        for item in items:
            print(json.dumps(item, separators=(",", ":")), flush=True)
            count += 1
        return count
    collected = list(items)
    if form is Format.JSON:
        print(json.dumps(collected, indent=2), flush=True)
    elif collected:
        table(collected, columns)
    elif empty:
        print(empty, file=sys.stderr)
    return len(collected)


def table(items: Sequence[Any], columns: Sequence[Column]) -> None:
    from rich.table import Table

    grid = Table(box=None, pad_edge=False, header_style="bold")
    for column in columns:
        grid.add_column(column.header, no_wrap=column.no_wrap, overflow="fold")
    for item in items:
        grid.add_row(*(_plain(column.value(item)) for column in columns))
    _print(grid)


def _plain(value: str | Text) -> Text:
    """A cell as it is: text from the server (an error, a name) is never read as rich markup."""
    from rich.text import Text

    return value if isinstance(value, Text) else Text(value)


def _print(grid: Table) -> None:
    """Print without the spaces rich pads the last column with (they only get in a grep's way)."""
    out = console()
    with out.capture() as captured:
        out.print(grid)
    for line in captured.get().splitlines():
        sys.stdout.write(line.rstrip() + "\n")
    sys.stdout.flush()


def fields(pairs: Sequence[tuple[str, str | Text | None]]) -> None:
    """``name: value`` lines, aligned (a value that is None is left out)."""
    from rich.table import Table

    grid = Table(box=None, pad_edge=False, show_header=False)
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for name, value in pairs:
        if value is not None and value != "":
            grid.add_row(name, _plain(value))
    _print(grid)


def status(value: str | None) -> Text:
    from rich.text import Text

    text = value or ""
    return Text(text, style=STATUS_STYLES.get(text, ""))


def moment(value: str | None) -> str:
    """An API time (UTC) as the local time of the reader's terminal, to the second."""
    if not value:
        return ""
    try:
        return datetime.fromisoformat(value).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return value


def took(start: str | None, end: str | None) -> str:
    """How long from ``start`` to ``end`` (or to now, when it has not ended)."""
    if not start:
        return ""
    try:
        begun = datetime.fromisoformat(start)
        ended = datetime.fromisoformat(end) if end else datetime.now(begun.tzinfo)
    except ValueError:
        return ""
    return span((ended - begun).total_seconds())


def span(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


size = format_size  # the templates' and tables' name for it


def compact(value: Any, limit: int = 80) -> str:
    """A JSON value on one line, cut to ``limit`` characters."""
    if value is None:
        return ""
    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
