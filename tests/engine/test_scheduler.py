"""The scheduler on each backend, on a clock the test moves: ticks, overlap policies,
catch-up after downtime, daylight-saving changes, versions, pauses, backfills, and two
instances firing at once.

The runs a schedule starts stay pending here (no claim loop runs, and their steps are due
by the real clock, long after the test's): to the overlap policies they are running until
the test cancels them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from executor.engine import Engine
from executor.scheduler import Scheduler
from executor.statuses import RUN_FINAL
from executor.store import Store, create_store
from executor.store.records import RunRecord, ScheduleRow
from executor.store.url import DatabaseURL
from executor.workflow import parse_workflow
from tests.contract.helpers import FakeClock
from tests.support.databases import POOL_SIZE
from tests.support.engine import Harness

# A whole hour, a long time before the real clock: the runs' steps are never due here.
START = 1_700_002_800.0
BERLIN = ZoneInfo("Europe/Berlin")


# The step renders a template, so it is claimed, not run in the submitting transaction
# (`engine.inline`): nothing claims here, and a run stays unfinished until a test ends it.
CLAIMED = '  - id: a\n    action: noop\n    with: {output: "{{ run.id }}"}\n'


class Instance:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.scheduler = Scheduler(engine)

    async def register(self, schedules: str, steps: str = CLAIMED) -> None:
        text = f"name: w\nschedules:\n{schedules}steps:\n{steps}"
        await self.engine.register(parse_workflow(text), text)

    async def runs(self) -> list[RunRecord]:
        """The schedule's runs, by tick."""
        runs = await self.engine.list_runs(workflow="w", limit=500)
        return sorted(runs, key=lambda run: (run.schedule_tick or 0, run.created_at))

    async def ticks(self) -> list[float | None]:
        return [run.schedule_tick for run in await self.runs()]

    async def schedule(self, schedule_id: str = "s") -> ScheduleRow:
        row = await self.engine.store.get_schedule("w", schedule_id)
        assert row is not None
        return row

    async def finish_all(self) -> None:
        for run in await self.runs():
            if run.status not in RUN_FINAL:
                await self.engine.cancel(run.id)


OpenInstance = Callable[[], AbstractAsyncContextManager[Instance]]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def open_instance(database_url: str, clock: FakeClock) -> OpenInstance:
    @asynccontextmanager
    async def opened() -> AsyncIterator[Instance]:
        store: Store = create_store(DatabaseURL.parse(database_url), clock=clock, pool_size=POOL_SIZE)
        async with store:
            engine = Engine(
                store,
                instance_id=f"test-{os.getpid()}-{id(store)}",
                concurrency=4,
                poll_interval=0.2,
                lease=5.0,
            )
            yield Instance(engine)

    return opened


@pytest.fixture
async def instance(open_instance: OpenInstance) -> AsyncIterator[Instance]:
    async with open_instance() as opened:
        yield opened


async def test_a_new_schedule_starts_from_now_and_fires_each_tick_once(
    instance: Instance, clock: FakeClock
) -> None:
    await instance.register("  - id: s\n    every: 10s\n    overlap: allow_all\n")
    await instance.scheduler.fire_due()  # computes the first tick after now; starts nothing
    assert await instance.ticks() == []
    assert (await instance.schedule()).next_tick == START + 10
    clock.advance(35)
    await instance.scheduler.fire_due()
    await instance.scheduler.fire_due()  # nothing more is due
    runs = await instance.runs()
    assert [run.schedule_tick for run in runs] == [START + 10, START + 20, START + 30]
    assert {(run.trigger, run.schedule_id) for run in runs} == {("schedule", "s")}
    row = await instance.schedule()
    assert (row.fired, row.missed, row.skipped, row.last_tick, row.next_tick) == (
        3,
        0,
        0,
        START + 30,
        START + 40,
    )


async def test_skip_starts_nothing_while_a_run_of_the_schedule_is_unfinished(
    instance: Instance, clock: FakeClock
) -> None:
    await instance.register("  - id: s\n    every: 10s\n")
    await instance.scheduler.fire_due()
    clock.advance(10)
    await instance.scheduler.fire_due()
    clock.advance(30)
    await instance.scheduler.fire_due()
    assert await instance.ticks() == [START + 10]
    assert (await instance.schedule()).skipped == 3
    await instance.finish_all()
    clock.advance(10)
    await instance.scheduler.fire_due()
    assert await instance.ticks() == [START + 10, START + 50]


async def test_buffer_one_keeps_one_tick_for_when_the_run_ends(instance: Instance, clock: FakeClock) -> None:
    await instance.register("  - id: s\n    every: 10s\n    overlap: buffer_one\n")
    await instance.scheduler.fire_due()
    clock.advance(40)  # ticks +10 (starts), +20 (buffered), +30 and +40 (skipped)
    await instance.scheduler.fire_due()
    row = await instance.schedule()
    assert [entry["tick"] for entry in row.buffered] == [START + 20]
    assert (row.skipped, row.fired) == (2, 1)
    await instance.finish_all()
    clock.advance(1)  # a schedule with a buffer looks again within a second
    await instance.scheduler.fire_due()
    assert await instance.ticks() == [START + 10, START + 20]
    assert (await instance.schedule()).buffered == []


async def test_buffer_all_starts_every_tick_one_after_another(instance: Instance, clock: FakeClock) -> None:
    await instance.register("  - id: s\n    every: 10s\n    overlap: buffer_all\n")
    await instance.scheduler.fire_due()
    clock.advance(30)
    await instance.scheduler.fire_due()
    assert await instance.ticks() == [START + 10]
    for started in (2, 3):
        await instance.finish_all()
        clock.advance(1)
        await instance.scheduler.fire_due()
        assert len(await instance.ticks()) == started
    assert await instance.ticks() == [START + 10, START + 20, START + 30]
    assert (await instance.schedule()).skipped == 0


async def test_cancel_other_cancels_the_running_run_and_starts_the_tick(
    instance: Instance, clock: FakeClock
) -> None:
    await instance.register("  - id: s\n    every: 10s\n    overlap: cancel_other\n")
    await instance.scheduler.fire_due()
    clock.advance(10)
    await instance.scheduler.fire_due()
    clock.advance(10)
    await instance.scheduler.fire_due()
    first, second = await instance.runs()
    assert (first.status, second.status) == ("cancelled", "pending")


async def test_after_downtime_ticks_older_than_the_catchup_window_are_missed(
    instance: Instance, clock: FakeClock
) -> None:
    await instance.register("  - id: s\n    every: 10m\n    catchup_window: 1h\n    overlap: allow_all\n")
    await instance.scheduler.fire_due()
    clock.advance(2 * 3600 + 60)  # down for two hours
    await instance.scheduler.fire_due()
    row = await instance.schedule()
    # Ticks at +10m ... +120m: the six older than an hour are missed, the six younger run.
    assert row.missed == 6
    assert await instance.ticks() == [START + 600 * n for n in range(7, 13)]
    assert row.next_tick == START + 600 * 13


async def test_a_long_outage_of_an_interval_schedule_is_counted_without_listing_it(
    instance: Instance, clock: FakeClock
) -> None:
    await instance.register("  - id: s\n    every: 1s\n    catchup_window: 5s\n")
    await instance.scheduler.fire_due()
    clock.advance(30 * 86400)  # a month of one-second ticks
    await instance.scheduler.fire_due()
    row = await instance.schedule()
    # Six are in the window (5 s old down to now): the first starts, the rest are skipped
    # (it is still running); every one before them is missed.
    assert row.missed == 30 * 86400 - 6
    assert (row.fired, row.skipped) == (1, 5)


async def test_jitter_delays_a_tick_but_the_run_keeps_its_nominal_time(
    instance: Instance, clock: FakeClock
) -> None:
    await instance.register("  - id: s\n    every: 1m\n    jitter: 30s\n")
    await instance.scheduler.fire_due()
    row = await instance.schedule()
    assert row.next_tick is not None and row.due_at is not None
    delay = row.due_at - row.next_tick
    assert 0 <= delay <= 30
    clock.now = row.next_tick + delay / 2
    await instance.scheduler.fire_due()
    assert await instance.ticks() == ([row.next_tick] if delay == 0 else [])
    clock.now = row.due_at
    await instance.scheduler.fire_due()
    assert await instance.ticks() == [row.next_tick]


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        # Autumn: 02:30 happens twice on 2026-10-25; the job runs once.
        (
            datetime(2026, 10, 24, 12, tzinfo=BERLIN),
            ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"],
        ),
        # Spring: 02:30 does not exist on 2026-03-29; the job runs at 03:00.
        (
            datetime(2026, 3, 28, 12, tzinfo=BERLIN),
            ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"],
        ),
    ],
)
async def test_a_nightly_job_across_a_real_2026_clock_change_runs_once_a_night(
    instance: Instance, clock: FakeClock, start: datetime, expected: list[str]
) -> None:
    clock.now = start.timestamp()
    await instance.register('  - id: s\n    cron: "30 2 * * *"\n    timezone: Europe/Berlin\n')
    await instance.scheduler.fire_due()
    for _ in range(48 * 6):  # two days, every ten minutes
        clock.advance(600)
        await instance.scheduler.fire_due()
        await instance.finish_all()
    ticks = await instance.ticks()
    assert [datetime.fromtimestamp(t or 0, BERLIN).isoformat() for t in ticks] == expected


async def test_a_new_version_keeps_each_schedules_state_by_id(instance: Instance, clock: FakeClock) -> None:
    await instance.register("  - id: s\n    every: 10s\n    overlap: allow_all\n")
    await instance.scheduler.fire_due()
    clock.advance(20)
    await instance.scheduler.fire_due()
    await instance.scheduler.pause("w", "s")
    before = await instance.schedule()
    # Another step: a new version; the schedule is declared the same.
    await instance.register(
        "  - id: s\n    every: 10s\n    overlap: allow_all\n", "  - id: b\n    action: noop\n"
    )
    after = await instance.schedule()
    assert (after.paused, after.next_tick, after.fired, after.last_tick) == (
        True,
        before.next_tick,
        2,
        START + 20,
    )
    # Declared differently: it starts afresh from now (no catch-up of the old declaration).
    await instance.scheduler.resume("w", "s")
    await instance.register("  - id: s\n    every: 15s\n    overlap: allow_all\n")
    clock.advance(100)
    await instance.scheduler.fire_due()
    assert (await instance.schedule()).next_tick == START + 120 + 15 - (START + 120) % 15
    # Removed from the YAML: it stops.
    await instance.register("  - id: t\n    every: 1h\n")
    clock.advance(100)
    await instance.scheduler.fire_due()
    assert not (await instance.schedule()).active
    assert [view.row.schedule_id for view in await instance.scheduler.list("w")] == ["t"]
    assert len(await instance.ticks()) == 2


async def test_a_paused_schedule_fires_nothing_and_resumes_from_the_next_tick(
    instance: Instance, clock: FakeClock
) -> None:
    await instance.register("  - id: s\n    every: 10s\n    overlap: allow_all\n")
    await instance.scheduler.fire_due()
    view = await instance.scheduler.pause("w", "s")
    assert view.row.paused
    clock.advance(100)
    await instance.scheduler.fire_due()
    assert await instance.ticks() == []
    view = await instance.scheduler.resume("w", "s")
    assert view.row.next_tick == START + 110
    clock.advance(10)
    await instance.scheduler.fire_due()
    assert await instance.ticks() == [START + 110]


async def test_trigger_starts_a_run_now_even_when_paused(instance: Instance, clock: FakeClock) -> None:
    await instance.register("  - id: s\n    every: 1h\n")
    await instance.scheduler.fire_due()
    await instance.scheduler.pause("w", "s")
    run = await instance.scheduler.trigger("w", "s")
    assert (run.trigger, run.schedule_id, run.schedule_tick) == ("schedule", "s", START)
    assert (await instance.schedule()).fired == 1


async def test_backfill_lists_the_ticks_then_runs_them_one_after_another(
    instance: Instance, clock: FakeClock
) -> None:
    await instance.register("  - id: s\n    every: 1h\n")
    await instance.scheduler.fire_due()
    start, end = START - 5 * 3600, START - 2 * 3600  # both ends are ticks: included
    dry = await instance.scheduler.backfill("w", "s", start, end, dry_run=True, overlap="buffer_all")
    assert dry.ticks == [START - 3600 * n for n in (5, 4, 3, 2)]
    assert await instance.ticks() == []
    result = await instance.scheduler.backfill("w", "s", start, end, dry_run=False, overlap="buffer_all")
    assert (result.buffered, result.started) == (4, 0)
    for started in range(1, 5):
        await instance.scheduler.fire_due()
        runs = await instance.runs()
        assert len(runs) == started
        await instance.finish_all()
        clock.advance(1)
    assert [run.trigger for run in await instance.runs()] == ["backfill"] * 4
    assert await instance.ticks() == dry.ticks
    again = await instance.scheduler.backfill("w", "s", start, end, dry_run=False, overlap="allow_all")
    assert (again.existing, again.started) == (4, 0)


async def test_two_instances_firing_at_once_start_one_run_per_tick(
    open_instance: OpenInstance, clock: FakeClock
) -> None:
    async with open_instance() as first, open_instance() as second:
        await first.register("  - id: s\n    every: 1s\n    overlap: allow_all\n")
        await first.scheduler.fire_due()
        for _ in range(20):
            clock.advance(1)
            await asyncio.gather(first.scheduler.fire_due(), second.scheduler.fire_due())
        assert await first.ticks() == [START + n for n in range(1, 21)]
        assert (await first.schedule()).fired == 20


async def test_steps_and_outputs_see_the_tick_that_started_the_run(harness: Harness) -> None:
    text = """\
name: w
schedules:
  - id: nightly
    cron: "30 2 * * *"
    timezone: Europe/Berlin
steps:
  - id: a
    action: noop
    with:
      output: "{{ schedule.id }} {{ schedule.date }} {{ schedule.previous_tick }}"
outputs:
  tick: "{{ schedule.tick }}"
  seen: "{{ steps.a.output }}"
"""
    await harness.register(text)
    run = await Scheduler(harness.engine).trigger("w", "nightly")
    finished, _ = await harness.wait(run.id)
    assert run.schedule_tick is not None
    tick = datetime.fromtimestamp(run.schedule_tick, BERLIN)
    assert finished.status == "succeeded"
    assert finished.outputs["tick"] == tick.isoformat()
    identifier, date, previous = finished.outputs["seen"].split(" ")
    assert (identifier, date) == ("nightly", tick.date().isoformat())
    assert datetime.fromisoformat(previous).strftime("%H:%M") in ("02:30", "03:00")
    # A run no schedule started sees None.
    plain = await harness.submit("w")
    finished, _ = await harness.wait(plain)
    assert finished.outputs == {"tick": None, "seen": "None None None"}
