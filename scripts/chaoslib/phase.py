"""One backend's chaos from start to figures: a fresh database, the instances, the load and
the chaos for the window, the drain, the instances stopped, then the evidence read."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import psycopg

from scripts.chaoslib.chaos import Chaos, schedule
from scripts.chaoslib.databases import Database, fresh_database
from scripts.chaoslib.errors import ChaosError, note
from scripts.chaoslib.figures import Effect, Evidence, Figures, compute
from scripts.chaoslib.fleet import Fleet
from scripts.chaoslib.observe import Observer
from scripts.chaoslib.orphans import kill_leftovers
from scripts.chaoslib.settings import Options
from scripts.chaoslib.workload import Submitter, register, workflow


def run_backend(backend: str, options: Options, session: str, workdir: Path) -> Figures:
    workdir.mkdir(parents=True)
    with fresh_database(backend, options.command, workdir) as database:
        try:
            evidence = asyncio.run(_unleash(backend, options, session, workdir, database))
        except* ChaosError as group:
            raise group.exceptions[0] from None
    return compute(evidence)


async def _unleash(
    backend: str, options: Options, session: str, workdir: Path, database: Database
) -> Evidence:
    size = 1 if backend == "sqlite" else options.instances
    fleet = Fleet(backend, options.command, database.url, workdir, size, session)
    try:
        for slot in range(size):
            await fleet.start(slot)
        await register(fleet.live_urls()[0], workflow(workdir))
        observer = Observer(database, fleet)
        chaos = Chaos(options, database, fleet, observer, random.Random(f"{options.seed} {backend} victims"))
        submitter = Submitter(
            fleet, options.rate, options.max_pause, random.Random(f"{options.seed} {backend} load")
        )
        events = schedule(options, backend, random.Random(f"{options.seed} {backend} schedule"))
        window = options.minutes * 60
        note(
            f"{backend}: {size} instance{'s' * (size > 1)}, {window:.0f} s of load at {options.rate:g} run/s,"
            f" {len(events)} chaos event(s); working in {workdir}"
        )
        submitting, watching = asyncio.Event(), asyncio.Event()
        async with asyncio.TaskGroup() as group:  # a task that fails stops the others
            began = time.monotonic()
            submissions = group.create_task(submitter.run(submitting))
            group.create_task(observer.watch(watching))
            await chaos.run(began, events)
            await asyncio.sleep(max(0.0, began + window - time.monotonic()))
            submitting.set()
            await submissions
            note(f"{backend}: window over, {len(submitter.accepted)} runs accepted; draining")
            await _drain(database, set(submitter.accepted.values()), options.drain_timeout)
            watching.set()
        stop_codes = await fleet.stop()
        runs, steps = await asyncio.to_thread(lambda: (database.runs(), database.steps()))
    finally:
        fleet.abandon()
    for leftover in await asyncio.to_thread(kill_leftovers, session):
        note(f"{backend}: killed a process left behind after the stop: {leftover}")
    effects, unreadable = _read_effects(fleet.effects)
    return Evidence(
        backend=backend,
        submitted=submitter.submitted,
        accepted=submitter.accepted,
        refused=submitter.refused,
        runs=runs,
        steps=steps,
        seen=observer.seen,
        effects=effects,
        kills=chaos.kills,
        orphan_grace=options.orphan_grace,
        terminations=chaos.terminations,
        postgres_restarts=chaos.postgres_restarts,
        unexpected_exits=observer.unexpected_exits,
        stop_exit_codes=stop_codes,
        unreadable_lines=unreadable,
    )


async def _drain(database: Database, run_ids: set[str], timeout: float) -> None:
    """Until every accepted run is final, or ``timeout`` s (what is left then counts as lost)."""
    began = time.monotonic()
    said = began
    left = len(run_ids)
    while time.monotonic() - began < timeout:
        try:
            left = await asyncio.to_thread(database.unfinished, run_ids)
        except (psycopg.Error, OSError):
            left = -1  # the database is coming back: ask again
        if left == 0:
            note(f"drained in {time.monotonic() - began:.0f} s")
            return
        if time.monotonic() - said > 15:
            note(f"{left} of {len(run_ids)} runs not final yet")
            said = time.monotonic()
        await asyncio.sleep(0.5)
    note(f"{left} run(s) not final after {timeout:.0f} s: they count as lost")


def _read_effects(path: Path) -> tuple[list[Effect], int]:
    if not path.exists():
        return [], 0
    effects: list[Effect] = []
    unreadable = 0
    for line in path.read_text(errors="replace").splitlines():
        effect = Effect.parse(line)
        if effect is None:
            unreadable += 1
        else:
            effects.append(effect)
    return effects, unreadable
