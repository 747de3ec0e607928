"""What people type on the remote CLI's command line, as the API takes it."""

from __future__ import annotations

import io
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from executor.errors import ConfigError
from executor.remote.values import API_MAX_DEPTH, check_text, parse_json, parse_time, run_input

NOW = datetime(2026, 11, 21, 13, 54, 56, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1h", "2026-11-21T12:54:56Z"),
        ("90s", "2026-11-21T13:53:26Z"),
        ("2d", "2026-11-19T13:54:56Z"),
        ("0", "2026-11-21T13:54:56Z"),
        ("2026-11-01T09:30:00Z", "2026-11-01T09:30:00Z"),
        ("2026-11-01T09:30:00+02:00", "2026-11-01T07:30:00Z"),
    ],
)
def test_times_become_utc_date_times(text: str, expected: str) -> None:
    assert parse_time(text, "--since", NOW) == expected


def test_a_time_without_offset_is_local_or_left_to_the_server() -> None:
    local = datetime(2026, 11, 1).astimezone()
    assert parse_time("2026-11-01", "--since") == local.astimezone(UTC).isoformat().replace("+00:00", "Z")
    # A schedule's backfill reads such a time in the schedule's zone: it goes as it is.
    assert parse_time("2026-11-01T02:30", "--from", naive_local=False) == "2026-11-01T02:30:00"
    assert parse_time("2026-11-01T02:30+01:00", "--from", naive_local=False) == "2026-11-01T01:30:00Z"


@pytest.mark.parametrize("text", ["yesterday", "1 week", "-1h", "2026-13-01"])
def test_a_time_that_is_neither_is_a_usage_error(text: str) -> None:
    with pytest.raises(ConfigError, match="--since") as caught:
        parse_time(text, "--since", NOW)
    assert caught.value.exit_code == 2


def test_input_from_json_and_pairs() -> None:
    assert run_input('{"a": 1, "b": 2}', None, ["b=3", "c=text", 'd={"x": [1]}', "e="]) == {
        "a": 1,
        "b": 3,
        "c": "text",
        "d": {"x": [1]},
        "e": "",
    }
    assert run_input(None, None, []) == {}


def test_input_errors_name_the_option() -> None:
    for given, option in [
        (("[1]", None, []), "--input"),
        (("{", None, []), "--input"),
        (("{}", "f.json", []), "--input"),
        ((None, "/no/such/file.json", []), "--input-file"),
        ((None, None, ["novalue"]), "-i"),
        ((None, None, ["=1"]), "-i"),
    ]:
        with pytest.raises(ConfigError, match=f"invalid {option}"):
            run_input(*given)


def test_relative_times_count_back_from_now() -> None:
    moment = datetime.fromisoformat(parse_time("30m", "--until"))
    expected = datetime.now(UTC) - timedelta(minutes=30)
    assert abs((moment - expected).total_seconds()) < 5
    assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("given", "option", "char"),
    [
        (('{"x": "\\ud800"}', None, []), "--input", "\\ud800"),
        (('{"\\udfff": 1}', None, []), "--input", "\\udfff"),
        ((None, None, ['x="\\udc00"']), "-i", "\\udc00"),
        ((None, None, ['x=["a", "\\ud83d"]']), "-i", "\\ud83d"),
    ],
)
def test_a_lone_surrogate_is_refused_naming_the_option(
    given: tuple[str | None, str | None, list[str]], option: str, char: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        run_input(*given)
    assert caught.value.exit_code == 2
    assert caught.value.message == (
        f"invalid {option}: the text is not valid Unicode: it holds a lone surrogate ({char})"
    )
    # A pair of surrogate escapes is one character, and fine.
    assert parse_json('"\\ud83d\\ude00"', "--payload") == "😀"


def test_bytes_the_terminal_could_not_decode_are_named() -> None:
    # Python keeps an argument's undecodable bytes as lone surrogates (surrogateescape).
    with pytest.raises(ConfigError, match=r"invalid -i: .* it is not UTF-8 \(the byte 0xff\)"):
        run_input(None, None, ["x=caf\udcff"])
    with pytest.raises(ConfigError, match=r"invalid RUN: .* it is not UTF-8 \(the byte 0xfe\)"):
        check_text("ab\udcfe", "RUN")
    check_text("café ✓", "RUN")


def test_json_nested_deeper_than_the_api_reads_is_refused() -> None:
    def nested(levels: int) -> str:
        return "[" * levels + "]" * levels

    assert parse_json(nested(API_MAX_DEPTH - 1), "--payload") is not None  # in {"payload": ...}: 64
    with pytest.raises(ConfigError, match="invalid --payload: nested deeper than the 63 levels"):
        parse_json(nested(API_MAX_DEPTH), "--payload")
    with pytest.raises(ConfigError, match="invalid --input: nested deeper than the 63 levels"):
        run_input('{"a": ' + nested(API_MAX_DEPTH - 1) + "}", None, [])
    with pytest.raises(ConfigError, match="invalid -i: nested deeper than the 62 levels"):
        run_input(None, None, ["a=" + nested(API_MAX_DEPTH - 1)])
    # Too deep even for Python's parser: the same one line, no RecursionError.
    with pytest.raises(ConfigError, match="invalid --payload: nested deeper than"):
        parse_json(nested(200_000), "--payload")


def test_an_input_file_that_cannot_be_read_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"x": "caf\xe9"}')
    for path, expected in [
        (tmp_path / "none.json", f"invalid --input-file: cannot read {tmp_path / 'none.json'}: No such file"),
        (tmp_path, f"invalid --input-file: cannot read {tmp_path}: Is a directory"),
        (latin, f"invalid --input-file: {latin} is not UTF-8 text"),
    ]:
        with pytest.raises(ConfigError) as caught:
            run_input(None, str(path), [])
        assert caught.value.message.startswith(expected)
    monkeypatch.setattr(
        sys, "stdin", io.TextIOWrapper(io.BytesIO(b'{"x": "\xff"}'), errors="surrogateescape")
    )
    with pytest.raises(ConfigError, match=r"^invalid --input-file: stdin is not UTF-8 text$"):
        run_input(None, "-", [])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO('{"x": "ü"}'.encode())))
    assert run_input(None, "-", []) == {"x": "ü"}
