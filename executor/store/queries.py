"""Named SQL queries, kept in ``.sql`` files beside this module: per dialect, the engine's in
``<dialect>.sql`` and one file per further concern in ``<dialect>.<concern>.sql``
(``sqlite.schedules.sql``, ``postgres.retention.sql``).

A file holds blocks that each start with a ``-- name: <query_name>`` line; everything up
to the next such line is that query's text.
"""

from __future__ import annotations

import re
from importlib import resources

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def parse(text: str) -> dict[str, str]:
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        queries[name] = body.strip()
    return queries


def load(dialect: str) -> dict[str, str]:
    """The dialect's queries. A block named ``_x`` is a fragment: ``{x}`` in a query stands for it."""
    folder = resources.files("executor.store.sql")
    names = sorted(
        entry.name
        for entry in folder.iterdir()
        if entry.name == f"{dialect}.sql"
        or (entry.name.startswith(f"{dialect}.") and entry.name.endswith(".sql"))
    )
    queries: dict[str, str] = {}
    for name in names:
        for query, body in parse(folder.joinpath(name).read_text("utf-8")).items():
            if query in queries:
                raise ValueError(f"query {query!r} is defined twice ({name})")
            queries[query] = body
    fragments = {name[1:]: body for name, body in queries.items() if name.startswith("_")}
    return {name: _expand(body, fragments) for name, body in queries.items() if not name.startswith("_")}


def _expand(body: str, fragments: dict[str, str]) -> str:
    return re.sub(
        r"\{(\w+)\}", lambda m: fragments[m.group(1)] if m.group(1) in fragments else m.group(0), body
    )
