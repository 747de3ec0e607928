from __future__ import annotations

import pytest

from executor.store import queries


def test_named_blocks() -> None:
    text = "-- a comment\n-- name: one\nSELECT 1\n\n-- name: two\nSELECT\n  2\n"
    assert queries.parse(text) == {"one": "SELECT 1", "two": "SELECT\n  2"}


def test_a_name_defined_twice_is_an_error() -> None:
    with pytest.raises(ValueError, match="twice"):
        queries.parse("-- name: a\nSELECT 1\n-- name: a\nSELECT 2\n")


def test_both_dialects_define_the_same_queries() -> None:
    assert queries.load("sqlite").keys() == queries.load("postgres").keys()
