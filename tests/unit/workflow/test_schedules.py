"""When schedules fire: cron in a time zone across the real 2026 daylight-saving changes,
fixed intervals, jitter, and the parser's checks of a `schedules:` list."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from executor.errors import WorkflowInvalid
from executor.workflow import parse_workflow
from executor.workflow.schedules import Schedule, ScheduleError, template_context

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def at(zone: ZoneInfo, *parts: int, fold: int = 0) -> float:
    return datetime(*parts, tzinfo=zone, fold=fold).timestamp()  # type: ignore[misc, arg-type]


def local(ticks: list[float], zone: ZoneInfo) -> list[str]:
    return [datetime.fromtimestamp(t, zone).isoformat() for t in ticks]


def test_a_fixed_time_job_fires_once_when_clocks_fall_back() -> None:
    # 2026-10-25 03:00 CEST -> 02:00 CET: 02:30 happens twice; Debian's cron runs the job once.
    nightly = Schedule(id="n", cron="30 2 * * *", timezone="Europe/Berlin")
    ticks = nightly.next_ticks(at(BERLIN, 2026, 10, 24, 12), 3)
    assert local(ticks, BERLIN) == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
        "2026-10-27T02:30:00+01:00",
    ]


def test_a_fixed_time_job_fires_at_the_first_valid_minute_when_clocks_spring_forward() -> None:
    # 2026-03-29 02:00 CET -> 03:00 CEST: 02:30 does not exist that day.
    nightly = Schedule(id="n", cron="30 2 * * *", timezone="Europe/Berlin")
    ticks = nightly.next_ticks(at(BERLIN, 2026, 3, 28, 12), 2)
    assert local(ticks, BERLIN) == ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]


def test_new_york_transitions_of_2026_behave_alike() -> None:
    job = Schedule(id="n", cron="30 1 * * *", timezone="America/New_York")
    # 2026-11-01 02:00 EDT -> 01:00 EST: 01:30 twice, one fire.
    assert local(job.next_ticks(at(NEW_YORK, 2026, 10, 31, 12), 2), NEW_YORK) == [
        "2026-11-01T01:30:00-04:00",
        "2026-11-02T01:30:00-05:00",
    ]
    early = Schedule(id="e", cron="30 2 * * *", timezone="America/New_York")
    # 2026-03-08 02:00 EST -> 03:00 EDT.
    assert local(early.next_ticks(at(NEW_YORK, 2026, 3, 7, 12), 2), NEW_YORK) == [
        "2026-03-08T03:00:00-04:00",
        "2026-03-09T02:30:00-04:00",
    ]


def test_a_job_repeating_within_the_hour_fires_in_both_folds() -> None:
    # Both 02:30s are real instants an hour apart: a half-hourly job runs at each.
    job = Schedule(id="h", cron="*/30 * * * *", timezone="Europe/Berlin")
    ticks = job.next_ticks(at(BERLIN, 2026, 10, 25, 1, 45), 5)
    assert [datetime.fromtimestamp(t, UTC).strftime("%H:%M") for t in ticks] == [
        "00:00",
        "00:30",
        "01:00",
        "01:30",
        "02:00",
    ]
    assert all(b - a == 1800 for a, b in itertools.pairwise(ticks))


def test_after_restart_from_the_second_fold_the_next_tick_is_not_repeated() -> None:
    # A scheduler that handled the second 02:30 (fold 1) continues after it, not at it again.
    job = Schedule(id="h", cron="30 * * * *", timezone="Europe/Berlin")
    second = at(BERLIN, 2026, 10, 25, 2, 30, fold=1)
    assert local([job.next_tick(second) or 0], BERLIN) == ["2026-10-25T03:30:00+01:00"]


def test_aliases_are_cron_expressions() -> None:
    daily = Schedule(id="d", cron="@daily")
    assert local(daily.next_ticks(at(ZoneInfo("UTC"), 2026, 1, 1, 5), 1), ZoneInfo("UTC")) == [
        "2026-01-02T00:00:00+00:00"
    ]
    hourly = Schedule(id="h", cron="@hourly")
    assert hourly.next_tick(at(ZoneInfo("UTC"), 2026, 1, 1, 5, 1)) == at(ZoneInfo("UTC"), 2026, 1, 1, 6)


def test_intervals_count_from_a_fixed_anchor_so_every_instance_agrees() -> None:
    every = Schedule(id="e", every=600)
    assert every.next_tick(1_000_000_123.0) == 1_000_000_200.0
    assert every.next_tick(1_000_000_200.0) == 1_000_000_800.0  # strictly after
    assert every.previous_tick(1_000_000_200.0) == 1_000_000_200.0 - 600


def test_ticks_between_lists_the_last_ones_and_counts_the_rest() -> None:
    every = Schedule(id="e", every=1)
    ticks, earlier = every.ticks_between(0.0, 3_600.0, limit=3)
    assert ticks == [3_598.0, 3_599.0, 3_600.0]
    assert earlier == 3_597
    cron = Schedule(id="c", cron="* * * * *")
    ticks, earlier = cron.ticks_between(0.0, 600.0, limit=2)
    assert ticks == [540.0, 600.0]
    assert earlier == 8


def test_jitter_is_the_same_everywhere_and_never_reaches_the_next_tick() -> None:
    job = Schedule(id="j", every=10, jitter=60)
    fires = [job.fire_at(tick) - tick for tick in range(0, 1000, 10)]
    assert all(0 <= delay < 10 for delay in fires)
    assert len(set(fires)) > 50  # spread, not one constant
    assert [job.fire_at(tick) for tick in range(0, 100, 10)] == [
        Schedule(id="j", every=10, jitter=60).fire_at(tick) for tick in range(0, 100, 10)
    ]


def test_previous_tick_of_a_cron_in_its_zone() -> None:
    nightly = Schedule(id="n", cron="30 2 * * *", timezone="Europe/Berlin")
    tick = at(BERLIN, 2026, 3, 30, 2, 30)
    assert local([nightly.previous_tick(tick) or 0], BERLIN) == ["2026-03-29T03:00:00+02:00"]


def test_templates_see_the_tick_in_the_schedules_zone() -> None:
    nightly = Schedule(id="nightly", cron="30 2 * * *", timezone="Europe/Berlin")
    tick = at(BERLIN, 2026, 10, 26, 2, 30)
    context = template_context(nightly, "nightly", tick)
    assert context == {
        "id": "nightly",
        "tick": "2026-10-26T02:30:00+01:00",
        "timestamp": tick,
        "date": "2026-10-26",
        "previous_tick": "2026-10-25T02:30:00+02:00",
    }
    assert template_context(None, None, None)["tick"] is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"cron": "61 * * * *"}, "not a cron expression"),
        ({"cron": "* * * * *", "timezone": "Mars/Olympus"}, "not an IANA time zone"),
        ({"every": 0.5}, "at least 1s"),
        ({}, "exactly one of cron and every"),
    ],
)
def test_a_schedule_that_cannot_fire_is_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        Schedule(id="x", **fields)  # type: ignore[arg-type]


WORKFLOW = """\
name: reports
inputs:
  type: object
  properties:
    env: {type: string}
  required: [env]
schedules:
  - id: nightly
    cron: "30 2 * * *"
    timezone: Europe/Berlin
    input: {env: prod}
    overlap: buffer_one
    catchup_window: 6h
    jitter: 30s
  - every: 10m
    input: {env: dev}
retention: 7d
steps:
  - id: a
    action: noop
"""


def test_schedules_parse_with_defaults_and_keep_their_declaration() -> None:
    workflow = parse_workflow(WORKFLOW)
    nightly, second = workflow.schedules
    assert nightly == Schedule(
        id="nightly",
        cron="30 2 * * *",
        timezone="Europe/Berlin",
        input={"env": "prod"},
        overlap="buffer_one",
        catchup_window=6 * 3600,
        jitter=30,
    )
    # Unnamed: its position is its id; the defaults are skip, UTC and a one-hour window.
    assert (second.id, second.every, second.overlap, second.timezone, second.catchup_window) == (
        "1",
        600,
        "skip",
        "UTC",
        3600,
    )
    assert workflow.retention == 7 * 86400
    assert type(workflow).from_json(workflow.to_json()) == workflow


def test_a_workflow_without_schedules_keeps_its_digest() -> None:
    # Definitions stored before schedules existed must find their version again.
    plain = parse_workflow("name: w\nsteps:\n  - id: a\n    action: noop\n")
    assert "schedules" not in plain.to_json()
    assert "retention" not in plain.to_json()


def test_every_schedule_problem_is_reported_with_its_line() -> None:
    text = WORKFLOW.replace('cron: "30 2 * * *"', 'cron: "30 25 * * *"').replace(
        "input: {env: dev}", "input: {env: 3}\n    overlap: sometimes\n    cron: '@daily'"
    )
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(text, "reports.yaml")
    found = {(p.path, p.line) for p in caught.value.problems}
    assert ("schedules[0].cron", 9) in found
    assert ("schedules[1].input.env", 16) in found
    assert ("schedules[1].overlap", 17) in found
    assert ("schedules[1]", 15) in found  # both cron and every


def test_duplicate_schedule_ids_are_refused() -> None:
    text = WORKFLOW.replace("  - every: 10m", "  - id: nightly\n    every: 10m")
    with pytest.raises(WorkflowInvalid, match=r"duplicate schedule id 'nightly'"):
        parse_workflow(text)


def test_a_cron_tick_a_hair_after_the_start_is_not_skipped() -> None:
    # 2020-01-01T00:00:00Z is a tick of "0 0 1 1 *"; a search from just before it must find
    # it, though the float just before it rounds up to it as a datetime (microseconds).
    new_year = 1577836800.0
    spec = Schedule(id="yearly", cron="0 0 1 1 *")
    assert spec.next_tick(math.nextafter(new_year, -math.inf)) == new_year
    assert spec.next_tick(new_year) == 1609459200.0
