"""A stop requested during the start: `Lifecycle.unless_stopped` cancels the step under way,
`migrate.in_thread` leaves a thread that holds nothing behind and waits for one that holds
the migration lock, and `migrate.apply` stops between two migrations, never inside one."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from loguru import logger

from executor import migrate
from executor.lifecycle import Interrupted, Lifecycle
from executor.store.url import DatabaseURL


async def test_a_stop_cancels_the_step_under_way_once_it_has_let_go() -> None:
    lifecycle = Lifecycle()
    started, released = asyncio.Event(), asyncio.Event()

    async def opening() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        finally:
            released.set()

    step = asyncio.create_task(lifecycle.unless_stopped("opening the database", opening))
    await started.wait()
    lifecycle.request_stop()
    with pytest.raises(Interrupted, match="stopped while opening the database"):
        await asyncio.wait_for(step, 5)
    assert released.is_set(), "the step let go of what it held before the stop was reported"


async def test_a_step_done_before_the_stop_keeps_its_result_and_the_next_one_never_starts() -> None:
    lifecycle = Lifecycle()

    async def quick() -> str:
        return "opened"

    assert await lifecycle.unless_stopped("opening", quick) == "opened"
    lifecycle.request_stop()
    called = False

    async def next_step() -> None:
        nonlocal called
        called = True

    with pytest.raises(Interrupted) as stopped:
        await lifecycle.unless_stopped("registering", next_step)
    assert stopped.value.phase == "registering" and not called


async def test_a_failure_of_the_step_itself_is_not_a_stop() -> None:
    async def failing() -> None:
        raise ValueError("port taken")

    with pytest.raises(ValueError, match="port taken"):
        await Lifecycle().unless_stopped("binding", failing)


async def test_a_thread_that_holds_nothing_is_left_behind_at_once() -> None:
    lifecycle = Lifecycle()
    connecting, give_up = threading.Event(), threading.Event()

    def connect(stop: migrate.Stop) -> None:
        stop.at("connecting to the database")
        connecting.set()
        give_up.wait(30)  # a connection attempt that never returns in time

    waiting = asyncio.create_task(migrate.in_thread(lifecycle, "migrating", connect))
    await asyncio.to_thread(connecting.wait, 5)
    assert lifecycle.phase == "connecting to the database"
    lifecycle.request_stop()
    try:
        with pytest.raises(Interrupted, match="connecting to the database"):
            await asyncio.wait_for(waiting, 2)
    finally:
        give_up.set()


async def test_a_thread_that_holds_the_lock_is_waited_for_until_it_stops_cleanly() -> None:
    lifecycle = Lifecycle()
    holding, may_check = threading.Event(), threading.Event()
    released = []

    def migrating(stop: migrate.Stop) -> None:
        with stop.holding():
            try:
                holding.set()
                may_check.wait(30)  # one migration, applied whole
                stop.check()
            finally:
                released.append(True)

    waiting = asyncio.create_task(migrate.in_thread(lifecycle, "migrating", migrating))
    await asyncio.to_thread(holding.wait, 5)
    lifecycle.request_stop()
    await asyncio.sleep(0.1)
    assert not waiting.done(), "a thread holding the lock is not left behind"
    may_check.set()
    with pytest.raises(Interrupted):
        await asyncio.wait_for(waiting, 5)
    assert released == [True]


def stop_on(stop: migrate.Stop, text: str) -> Callable[[str], None]:
    """A log sink that requests ``stop`` when a line with ``text`` is logged."""

    def sink(message: str) -> None:
        if text in message:
            stop.request()

    return sink


def test_a_stop_while_migrating_finishes_that_migration_and_releases_the_lock(tmp_path: Path) -> None:
    database = DatabaseURL.parse(f"sqlite:///{tmp_path / 'executor.db'}")
    known = migrate.status(database).pending
    assert len(known) >= 2, "needs two migrations to stop between"
    stop = migrate.Stop()
    # Asked while the first migration is being applied.
    sink = logger.add(stop_on(stop, "applying migration"))
    try:
        with pytest.raises(Interrupted, match="applying migrations"):
            migrate.apply(database, stop=stop)
    finally:
        logger.remove(sink)
    assert migrate.status(database).applied == known[:1], "the first one applied and recorded, whole"
    assert migrate.apply(database, lock_timeout=1) == known[1:], "the lock was released"


def test_a_migration_waiting_for_the_lock_stops_while_it_waits(tmp_path: Path) -> None:
    database = DatabaseURL.parse(f"sqlite:///{tmp_path / 'executor.db'}")
    from yoyo import get_backend

    # A new database (every migration pending): one already migrated needs no lock.
    holder = get_backend(migrate.yoyo_url(database))
    stop = migrate.Stop()
    sink = logger.add(stop_on(stop, "holds the migration lock"))
    try:
        with holder.lock(), pytest.raises(Interrupted, match="waiting for the migration lock"):
            migrate.apply(database, lock_timeout=30, stop=stop)
    finally:
        logger.remove(sink)
        holder.connection.close()
