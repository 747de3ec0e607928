from __future__ import annotations

import re
from pathlib import Path

import pytest

from executor.store import queries

STORE = Path(__file__).resolve().parents[2] / "executor" / "store"


def test_named_blocks() -> None:
    text = "-- a comment\n-- name: one\nSELECT 1\n\n-- name: two\nSELECT\n  2\n"
    assert queries.parse(text) == {"one": "SELECT 1", "two": "SELECT\n  2"}


def test_a_name_defined_twice_is_an_error() -> None:
    with pytest.raises(ValueError, match="twice"):
        queries.parse("-- name: a\nSELECT 1\n-- name: a\nSELECT 2\n")


def test_fragments_are_expanded() -> None:
    parsed = queries.parse("-- name: _cols\na, b\n-- name: q\nSELECT {cols} FROM t\n")
    fragments = {k[1:]: v for k, v in parsed.items() if k.startswith("_")}
    assert queries._expand(parsed["q"], fragments) == "SELECT a, b FROM t"


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_every_query_a_store_uses_is_defined(dialect: str) -> None:
    source = (STORE / f"{dialect}.py").read_text()
    used = set(re.findall(r"""(?:_sql|sql)\[["'](\w+)["']\]""", source))
    used |= set(re.findall(r"""(?:_read|_all|_one)\(\s*["'](\w+)["']""", source))
    defined = queries.load(dialect)
    assert used, "the pattern found no query names: the test itself is broken"
    assert sorted(used - defined.keys()) == []
    assert not any("{" in body and re.search(r"\{\w+\}", body) for body in defined.values()), (
        "unexpanded fragment"
    )
