"""What people type on the remote CLI's command line, as the API takes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from executor.errors import ConfigError
from executor.remote.values import parse_time, run_input

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
