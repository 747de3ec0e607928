"""The ``schedules`` workload: a one-second schedule (`allow_all`: every tick starts a run)
fired by the service, on one instance and on a fleet of two (where both fire and the database
keeps one run per tick), for ``Sizes.schedule_seconds``.

Fire lag from each tick (its nominal time) to its run's creation and to its first step's
start, p50 and p99, from the database's timestamps; the first two ticks (start-up) are left
out. Duplicates (two runs of one tick) and gaps (a tick without a run between the first and
the last) are counted and make the measurement fail: they must be 0.
"""

from __future__ import annotations

import time
from itertools import pairwise

from scripts.benchlib.errors import BenchError
from scripts.benchlib.figures import Sample
from scripts.benchlib.suite import Suite
from scripts.benchlib.workflows import Load
from scripts.benchlib.workloads.latency import percentile

WARMUP_TICKS = 2
FLOW = """\
name: tick
schedules:
  - id: second
    every: 1s
    overlap: allow_all
steps:
  - id: a
    action: noop
"""


def schedules_once(suite: Suite, kind: str, variant: str, instances: int) -> Sample:
    seconds = suite.sizes.schedule_seconds
    load = Load("tick", FLOW, seconds, seconds, f"every 1s for {seconds} s")
    with suite.serving(kind, load, instances) as (database, fleet):
        # Until WARMUP_TICKS + seconds ticks have run (the first comes a second or two after
        # the workflow is registered), or well past the time that takes.
        deadline = time.monotonic() + seconds + WARMUP_TICKS + 15
        while time.monotonic() < deadline:
            for instance in fleet:
                instance.check_alive()
            if database.rows("SELECT count(*) FROM runs")[0][0] >= seconds + WARMUP_TICKS:
                break
            time.sleep(0.2)
        time.sleep(0.5)  # the last run's first step
        rows = database.rows(
            f"SELECT {database.epoch('r.schedule_tick')}, {database.epoch('r.created_at')},"
            f" {database.epoch('s.started_at')} FROM runs r JOIN steps s ON s.run_id = r.id"
            " WHERE r.schedule_tick IS NOT NULL AND s.item_index = -1 ORDER BY 1"
        )
    ticks = [tick for tick, _, _ in rows]
    duplicates = len(ticks) - len(set(ticks))
    gaps = sum(round(b - a) - 1 for a, b in pairwise(ticks) if b - a > 1.5)
    if duplicates or gaps:
        raise BenchError(f"{duplicates} tick(s) ran twice, {gaps} tick(s) never ran")
    measured = [row for row in rows[WARMUP_TICKS:] if row[2] is not None]
    if len(measured) < seconds:
        raise BenchError(f"only {len(measured)} ticks ran in {seconds} s")
    created = [(made - tick) for tick, made, _ in measured]
    started = [(began - tick) for tick, _, began in measured]
    return {
        (variant, "tick_to_created_p50"): percentile(created, 0.5) * 1000,
        (variant, "tick_to_created_p99"): percentile(created, 0.99) * 1000,
        (variant, "tick_to_first_step_p50"): percentile(started, 0.5) * 1000,
        (variant, "tick_to_first_step_p99"): percentile(started, 0.99) * 1000,
    }


def schedules(suite: Suite, kind: str) -> None:
    shape = f"a schedule every 1s for {suite.sizes.schedule_seconds} s"
    suite.measure("schedules", kind, lambda: schedules_once(suite, kind, "one_instance", 1), shape=shape)
    suite.measure("schedules", kind, lambda: schedules_once(suite, kind, "fleet_of_2", 2), shape=shape)
