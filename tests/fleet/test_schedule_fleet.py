"""A schedule fired by a fleet: three instances on one PostgreSQL database fire an ``every:
1s`` schedule for half a minute while instances are killed (-9) and started again, once all
three at the same time. Each tick gets exactly one run, none is lost, the counts agree."""

from __future__ import annotations

import signal
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from executor import migrate
from executor.store.url import DatabaseURL
from tests.fleet.test_fleet import Fleet
from tests.support.checks import not_none
from tests.support.databases import postgres_database
from tests.support.process import CLI, run
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

FLOW = """
name: ticking
schedules:
  - {id: fast, every: 1s, overlap: allow_all}
steps:
  - {id: a, action: noop, with: {output: "{{ schedule.tick }}"}}
"""
WINDOW = 30.0  # seconds of firing under chaos


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    with postgres_database() as url:
        assert run(CLI, "migrate", "--database", url, cwd=tmp_path).returncode == 0
        migrate.check_schema(DatabaseURL.parse(url))
        yield url


def kill(fleet: Fleet, index: int) -> None:
    server = fleet.servers[index]
    assert server.process is not None
    server.process.send_signal(signal.SIGKILL)
    server.wait_exit(10)


def runs(url: str) -> list[dict[str, Any]]:
    with psycopg.connect(url) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cursor:
        cursor.execute(
            "SELECT id, trigger, schedule_id, status, extract(epoch FROM schedule_tick)::float8 AS tick,"
            " extract(epoch FROM created_at)::float8 AS created_at,"
            " extract(epoch FROM started_at)::float8 AS started_at, finished_at IS NOT NULL AS finished"
            " FROM runs WHERE workflow_name = 'ticking' ORDER BY schedule_tick, created_at"
        )
        return cursor.fetchall()


def the_schedule(url: str) -> dict[str, Any]:
    with psycopg.connect(url) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cursor:
        cursor.execute(
            "SELECT fired, missed, skipped, paused, extract(epoch FROM last_tick)::float8 AS last_tick,"
            " extract(epoch FROM next_tick)::float8 AS next_tick"
            " FROM schedules WHERE workflow_name = 'ticking' AND schedule_id = 'fast'"
        )
        return not_none(cursor.fetchone())


def percentiles(values: list[float]) -> str:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return f"p50 {cuts[49] * 1000:.0f} ms, p99 {cuts[98] * 1000:.0f} ms, max {max(values) * 1000:.0f} ms"


@pytest.mark.timeout(300)
def test_three_instances_fire_each_tick_exactly_once_through_kills(database: str, tmp_path: Path) -> None:
    fleet = Fleet(database, tmp_path, 3)
    try:
        answer = httpx.post(
            f"{fleet.urls()[0]}/workflows", content=FLOW, headers={"content-type": "application/yaml"}
        )
        assert answer.status_code == 201, answer.text
        begun = time.monotonic()

        def at(moment: float) -> None:
            """Wait for ``moment`` seconds after the registration (chaos at chosen times)."""
            time.sleep(max(0.0, begun + moment - time.monotonic()))

        for moment, victim in ((4.0, 0), (10.0, 1), (16.0, 2)):
            at(moment)
            kill(fleet, victim)
            fleet.start(victim)
        # Then every instance at once: nobody fires for a few seconds, then the ticks missed
        # meanwhile (well inside the one-hour catch-up window) are caught up.
        at(22.0)
        for victim in range(3):
            kill(fleet, victim)
        outage = (time.time(), time.time() + 3.0)
        at(25.0)
        for victim in range(3):
            fleet.start(victim)
        at(WINDOW)

        paused = httpx.post(f"{fleet.urls()[0]}/schedules/ticking/fast/pause")
        assert paused.status_code == 200 and paused.json()["paused"], paused.text
        wait_until(
            lambda: all(r["finished"] for r in runs(database)),
            timeout=60,
            interval=0.2,
            what="every run of the schedule to finish",
        )
        made = runs(database)
        state = the_schedule(database)
    finally:
        fleet.stop()

    ticks = [r["tick"] for r in made]
    duplicates = sum(count - 1 for count in Counter(ticks).values())
    first, last = min(ticks), max(ticks)
    expected = [first + n for n in range(int(last - first) + 1)]
    lag = [r["created_at"] - r["tick"] for r in made]
    start_lag = [r["started_at"] - r["tick"] for r in made if r["started_at"] is not None]
    steady = [r["created_at"] - r["tick"] for r in made if not outage[0] - 1 <= r["tick"] <= outage[1] + 5]
    print(
        f"\nschedule fleet: {len(made)} runs for ticks {first:.0f}..{last:.0f}, {duplicates} duplicates,"
        f" fired {state['fired']}, missed {state['missed']}, skipped {state['skipped']}"
        f"\nfire lag (run created - tick), all ticks: {percentiles(lag)}"
        f"\nfire lag, ticks outside the all-down outage: {percentiles(steady)}"
        f"\nstart lag (run started - tick): {percentiles(start_lag)}"
    )

    assert duplicates == 0, "one run per tick"
    missing = sorted(set(expected) - set(ticks))
    assert not missing, f"ticks lost inside the catch-up window: {missing}"
    assert ticks == expected
    assert len(made) >= WINDOW - 5, "the schedule fired all along"
    assert {(r["trigger"], r["schedule_id"], r["status"]) for r in made} == {
        ("schedule", "fast", "succeeded")
    }
    assert (state["fired"], state["missed"], state["skipped"]) == (len(made), 0, 0)
    assert state["paused"] and state["last_tick"] == last
    assert state["next_tick"] == last + 1, "the next tick is the one after the last fired"
    assert statistics.median(steady) < 1.0, "ticks fire on time while an instance is up"
