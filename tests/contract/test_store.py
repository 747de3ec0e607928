"""The `Store` contract, run against every backend (SQLite always, PostgreSQL in CI)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from executor import migrate
from executor.errors import StoreError
from executor.store import Instance, Store, create_store
from executor.store.records import NewRun, NewStep
from executor.store.url import DatabaseURL


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    database = DatabaseURL.parse(database_url)
    migrate.apply(database)
    async with create_store(database) as opened:
        yield opened


def instance(id: str = "host-1-abc", state: str = "idle") -> Instance:
    return Instance(id=id, host="host", pid=1234, version="0.1.0", state=state)


async def test_ping(store: Store) -> None:
    await store.ping()


async def test_registered_instances_are_listed_with_their_times(store: Store) -> None:
    await store.register_instance(instance("a"))
    await store.register_instance(instance("b", state="running"))
    listed = await store.list_instances()
    assert [(i.id, i.state, i.host, i.pid, i.version) for i in listed] == [
        ("a", "idle", "host", 1234, "0.1.0"),
        ("b", "running", "host", 1234, "0.1.0"),
    ]
    for item in listed:
        assert isinstance(item.started_at, datetime) and item.started_at.tzinfo is not None
        assert item.heartbeat_at is not None and item.heartbeat_at >= item.started_at


async def test_heartbeat_moves_state_and_time(store: Store) -> None:
    await store.register_instance(instance("a"))
    [before] = await store.list_instances()
    await store.heartbeat("a", "draining")
    [after] = await store.list_instances()
    assert after.state == "draining"
    assert after.heartbeat_at is not None and before.heartbeat_at is not None
    assert after.heartbeat_at >= before.heartbeat_at


async def test_heartbeat_of_an_unknown_instance_fails(store: Store) -> None:
    with pytest.raises(StoreError, match="not registered"):
        await store.heartbeat("ghost", "running")


async def test_registering_again_replaces(store: Store) -> None:
    await store.register_instance(instance("a"))
    await store.register_instance(Instance(id="a", host="other", pid=9, version="0.2.0", state="running"))
    [only] = await store.list_instances()
    assert (only.host, only.pid, only.version, only.state) == ("other", 9, "0.2.0", "running")


async def test_an_invalid_state_is_rejected_and_changes_nothing(store: Store) -> None:
    await store.register_instance(instance("a"))
    with pytest.raises(StoreError):
        await store.heartbeat("a", "exploded")
    [only] = await store.list_instances()
    assert only.state == "idle"


async def test_changes_are_visible_to_a_new_connection(store: Store, database_url: str) -> None:
    await store.register_instance(instance("durable"))
    async with create_store(DatabaseURL.parse(database_url)) as other:
        assert [i.id for i in await other.list_instances()] == ["durable"]


async def test_close_is_idempotent(database_url: str) -> None:
    database = DatabaseURL.parse(database_url)
    migrate.apply(database)
    opened = create_store(database)
    await opened.open()
    await opened.close()
    await opened.close()


async def test_open_fails_clearly_on_an_unreachable_database(database_url: str, tmp_path) -> None:
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'missing' / 'x.db'}"
    else:
        url = "postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=1"
    store = create_store(DatabaseURL.parse(url))
    with pytest.raises(StoreError):
        await store.open()
    await store.close()


async def test_runs_page_newest_first_with_a_stable_cursor(store: Store) -> None:
    from executor.engine.engine import Engine
    from executor.workflow import parse_workflow

    engine = Engine(store, instance_id="t", secrets={})
    for name in ("alpha", "beta"):
        text = f"name: {name}\nsteps:\n  - {{id: a, action: wait, with: {{signal: never}}}}\n"
        await engine.register(parse_workflow(text), text)
    created = [(await engine.submit("alpha" if i % 2 else "beta", {}))[0].id for i in range(7)]
    first = await store.list_runs(limit=3)
    assert [r.id for r in first] == created[::-1][:3]
    # A run created after the first page does not disturb the next pages.
    late = (await engine.submit("alpha", {}))[0].id
    rest = await store.list_runs(before=(first[-1].created_at, first[-1].id), limit=10)
    assert [r.id for r in first + rest] == created[::-1]
    assert late not in [r.id for r in rest]
    alphas = await store.list_runs(workflow="alpha", limit=10)
    assert all(r.workflow_name == "alpha" for r in alphas) and len(alphas) == 4
    assert await store.list_runs(status="succeeded", limit=10) == []
    assert len(await store.list_runs(status="pending", limit=10)) == 8


async def _run_with_steps(store: Store, steps: list[NewStep]) -> str:
    """A run of workflow ``w`` (registered on first use) with these step rows."""
    if await store.get_workflow("w") is None:
        await store.register_workflow("w", "digest", "name: w", {"name": "w", "steps": []})
    run_id = str(uuid.uuid4())
    async with store.transaction() as txn:
        await txn.insert_run(NewRun(id=run_id, workflow_name="w", workflow_version=1, input={"n": 1}))
        await txn.insert_steps(run_id, steps)
    return run_id


async def test_a_claim_inside_a_transaction_sees_what_it_queued(store: Store) -> None:
    run_id = await _run_with_steps(store, [NewStep("a"), NewStep("b")])
    async with store.transaction() as txn:
        [a] = await txn.step_rows(run_id, ["a"])
        await txn.update_step(a.id, status="queued", available_at=time.time())
        claimed = await txn.claim("me", 10, 30.0)
    assert [(c.row.step_id, c.row.status, c.row.attempt) for c in claimed] == [("a", "running", 1)]
    assert claimed[0].run_input == {"n": 1} and claimed[0].workflow_name == "w"
    run, rows = await store.get_run(run_id) or (None, [])
    assert run is not None and run.status == "running"
    assert {row.step_id: row.status for row in rows} == {"a": "running", "b": "pending"}


async def test_prefetched_rows_read_as_written(store: Store) -> None:
    run_id = await _run_with_steps(store, [NewStep("a"), NewStep("b"), NewStep("c")])
    async with store.transaction() as txn:
        [a] = await txn.step_rows(run_id, ["a"])
        await txn.prefetch([run_id], [a.id], [(run_id, "a"), (run_id, "b")])
        assert (await txn.lock_run(run_id)) is not None
        await txn.update_step(a.id, status="queued", available_at=time.time())
        assert (await txn.get_step(a.id)).status == "queued"  # type: ignore[union-attr]
        rows = {row.step_id: row.status for row in await txn.step_rows(run_id, ["a", "b", "c"])}
        assert rows == {"a": "queued", "b": "pending", "c": "pending"}
        await txn.update_run(run_id, status="running")
        assert (await txn.lock_run(run_id)).status == "running"  # type: ignore[union-attr]
        assert await txn.unfinished_steps(run_id) == 3


async def test_items_are_read_by_index_and_in_order(store: Store) -> None:
    items = [NewStep("fan", item_index=i, state={"item": i * 10}) for i in (2, 0, 1)]
    run_id = await _run_with_steps(store, [NewStep("fan", status="running"), *items])
    async with store.transaction() as txn:
        assert [row.item_index for row in await txn.items(run_id, "fan")] == [0, 1, 2]
        second = await txn.item(run_id, "fan", 1)
        assert second is not None and second.state == {"item": 10}
        assert await txn.item(run_id, "fan", 3) is None
        assert await txn.unfinished_steps(run_id) == 1  # the step's own row; items are not counted
