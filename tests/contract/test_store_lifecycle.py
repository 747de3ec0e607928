"""The store's lifecycle and the contract every method shares: open, close, ping, watch;
a change is committed when the method returns; a failure is a `StoreError` and changes
nothing; a transaction commits whole or not at all, and serialises the work on one run."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from executor import migrate
from executor.errors import StoreError
from executor.statuses import RunStatus, StepStatus
from executor.store import Instance, Store, create_store
from executor.store.records import NewStep
from executor.store.url import DatabaseURL
from tests.contract.helpers import FakeClock, OpenStore, new_run, run_of, workflow
from tests.support.databases import POOL_SIZE


async def test_ping_answers(store: Store) -> None:
    await store.ping()


def unreachable(database_url: str, tmp_path: Path) -> DatabaseURL:
    if database_url.startswith("sqlite"):
        return DatabaseURL.parse(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    return DatabaseURL.parse("postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=1")


@pytest.mark.slow  # PostgreSQL's pool tries for its whole connect timeout (10 s) first
async def test_open_raises_store_error_when_the_database_cannot_be_reached_and_close_is_safe_after(
    database_url: str, tmp_path: Path
) -> None:
    # One test for both promises, to wait out that timeout once.
    store = create_store(unreachable(database_url, tmp_path), pool_size=POOL_SIZE)
    with pytest.raises(StoreError):
        await store.open()
    await store.close()
    await store.close()


async def test_open_neither_migrates_nor_checks_the_schema(empty_database_url: str) -> None:
    database = DatabaseURL.parse(empty_database_url)
    if database.dialect == "sqlite":
        sqlite3.connect(database.sqlite_path).close()  # an empty database file
    async with create_store(database, pool_size=POOL_SIZE) as store:
        await store.ping()
        with pytest.raises(StoreError):
            await store.list_instances()  # no table: nobody migrated
    assert migrate.status(database).pending, "opening migrated nothing"


async def test_close_is_safe_twice(database_url: str) -> None:
    database = DatabaseURL.parse(database_url)
    migrate.apply(database)
    store = create_store(database, pool_size=POOL_SIZE)
    await store.open()
    await store.close()
    await store.close()


async def test_a_closed_store_refuses_work_with_store_error(open_store: OpenStore) -> None:
    async with open_store() as store:
        await store.ping()
    with pytest.raises(StoreError):
        await store.ping()
    with pytest.raises(StoreError):
        async with store.transaction():
            pass


async def test_a_change_is_committed_when_the_method_returns(store: Store, open_store: OpenStore) -> None:
    await store.register_instance(Instance(id="durable", host="h", pid=1, version="1", state="idle"))
    run_id = await new_run(store, [NewStep("a")])
    async with open_store() as other:
        assert [i.id for i in await other.list_instances()] == ["durable"]
        assert await other.get_run(run_id) is not None


async def test_a_failing_method_raises_store_error_and_changes_nothing(store: Store) -> None:
    await store.register_instance(Instance(id="a", host="h", pid=1, version="1", state="idle"))
    with pytest.raises(StoreError):
        await store.heartbeat("a", "exploded")  # not a state the registry accepts
    [only] = await store.list_instances()
    assert only.state == "idle"


async def test_a_transaction_commits_everything_together(store: Store, open_store: OpenStore) -> None:
    run_id = await new_run(store, [NewStep("a"), NewStep("b")])
    async with open_store() as other:
        async with store.transaction() as txn:
            [a, b] = sorted(await txn.step_rows(run_id, ["a", "b"]), key=lambda r: r.step_id)
            await txn.update_step(a.id, status=StepStatus.SUCCEEDED, output=1)
            await txn.update_step(b.id, status=StepStatus.SUCCEEDED, output=2)
            await txn.update_run(run_id, status=RunStatus.SUCCEEDED, outputs={"done": True})
            # Nothing shows before the commit, even to a reader of this same store.
            assert (await run_of(other, run_id))[0].status == "pending"
            assert await store.step_results(run_id) == {"a": ("pending", None), "b": ("pending", None)}
        run, rows = await run_of(other, run_id)
    assert (run.status, run.outputs) == ("succeeded", {"done": True})
    assert {s: (r.status, r.output) for s, r in rows.items()} == {
        "a": ("succeeded", 1),
        "b": ("succeeded", 2),
    }


async def test_a_transaction_that_raises_leaves_nothing_behind(store: Store) -> None:
    before = await new_run(store, [NewStep("a")])

    class Boom(Exception):
        pass

    async def write_then_raise() -> None:
        async with store.transaction() as txn:
            await txn.update_run(before, status=RunStatus.RUNNING)
            await txn.insert_signal(before, "go", {"x": 1})
            [a] = await txn.step_rows(before, ["a"])
            await txn.update_step(a.id, status=StepStatus.QUEUED, available_at=0.0)
            await txn.insert_steps(before, [NewStep("b")])
            raise Boom

    with pytest.raises(Boom):  # the block's own exception, not a StoreError
        await write_then_raise()
    run, rows = await run_of(store, before)
    assert run.status == "pending" and list(rows) == ["a"] and rows["a"].status == "pending"
    async with store.transaction() as txn:
        assert await txn.take_signal(before, "go", rows["a"].id) == (False, None)


async def test_a_transaction_whose_write_is_refused_raises_store_error_and_commits_nothing(
    store: Store,
) -> None:
    run_id = await new_run(store, [NewStep("a")])
    a = (await run_of(store, run_id))[1]["a"]

    async def refused_write() -> None:
        async with store.transaction() as txn:
            await txn.update_run(run_id, status=RunStatus.RUNNING)
            await txn.insert_steps(run_id, [NewStep("b")])
            # Not a step status, on purpose (so not one to the type checker either): refused.
            await txn.update_step(a.id, status="exploded")  # type: ignore[arg-type]

    with pytest.raises(StoreError):  # at once, or when the store sends it (by the commit)
        await refused_write()
    run, rows = await run_of(store, run_id)
    assert run.status == "pending" and rows == {"a": a}


async def test_transactions_on_one_run_are_serialised(store: Store, open_store: OpenStore) -> None:
    run_id = await new_run(store)
    async with store.transaction() as txn:
        await txn.update_run(run_id, outputs={"n": 0})

    async def increment(on: Store) -> None:
        async with on.transaction() as txn:
            run = await txn.lock_run(run_id)
            assert run is not None
            await asyncio.sleep(0.005)  # read, decide, write: interleaved, updates would be lost
            await txn.update_run(run_id, outputs={"n": run.outputs["n"] + 1})

    async with open_store() as other:
        await asyncio.gather(*(increment(on) for _ in range(5) for on in (store, other)))
    assert (await run_of(store, run_id))[0].outputs == {"n": 10}


class Wakes:
    """A ``wake`` callback that counts, and can be waited on."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = asyncio.Event()

    def __call__(self) -> None:
        self.count += 1
        self._changed.set()

    async def reach(self, count: int) -> None:
        while self.count < count:
            self._changed.clear()
            await self._changed.wait()


async def test_watch_wakes_on_work_queued_by_another_store_or_returns_where_nobody_listens(
    store: Store, open_store: OpenStore
) -> None:
    wakes = Wakes()
    watching = asyncio.create_task(store.watch(wakes))
    try:
        # A store that can listen wakes once when it starts (for work queued before).
        first_wake = asyncio.create_task(wakes.reach(1))
        await asyncio.wait([watching, first_wake], timeout=10, return_when=asyncio.FIRST_COMPLETED)
        first_wake.cancel()
        if watching.done():
            assert watching.result() is None and wakes.count == 0  # others' work is polled for
            return
        async with open_store() as other:
            await workflow(other)

            async def queue_then_roll_back() -> None:
                async with other.transaction() as txn:
                    await txn.work_queued()
                    raise RuntimeError("rolled back: nobody is told")

            with pytest.raises(RuntimeError):
                await queue_then_roll_back()
            async with other.transaction() as txn:
                await txn.work_queued()
                await txn.work_queued()  # several in one transaction arrive as one
            async with other.transaction() as txn:
                await txn.work_queued()
            # Notifications arrive in commit order: anything sent for the first two
            # transactions has arrived once the last one's has.
            await asyncio.wait_for(wakes.reach(3), timeout=10)
            assert wakes.count == 3
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)


async def test_times_are_unix_seconds_read_from_the_store_clock(store: Store, clock: FakeClock) -> None:
    assert abs(clock() - time.time()) > 3600, "the test clock is not the real one"
    run_id = await new_run(store, [NewStep("a")])
    run, rows = await run_of(store, run_id)
    assert run.created_at == clock() and rows["a"].created_at == clock()
    assert type(run.created_at) is float and type(rows["a"].created_at) is float
