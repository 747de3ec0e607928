"""Named SQL queries, kept in ``.sql`` files beside this module, one file per dialect.

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
    text = resources.files("executor.store.sql").joinpath(f"{dialect}.sql").read_text("utf-8")
    return parse(text)
