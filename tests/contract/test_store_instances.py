"""The instance registry: register, heartbeat, list, release, the dead of this host, and the
steps each runs."""

from __future__ import annotations

import pytest

from executor.errors import StoreError
from executor.statuses import StepStatus
from executor.store import Instance, Store
from tests.contract.helpers import FakeClock, claim, new_run, queued, set_step


def instance(id: str = "a", state: str = "idle", host: str = "host", pid: int = 1234) -> Instance:
    return Instance(id=id, host=host, pid=pid, version="0.1.0", state=state)


async def test_register_records_the_instance_with_its_heartbeat_set_to_now(
    store: Store, clock: FakeClock
) -> None:
    given = Instance("a", "host", 1234, "0.1.0", "idle", started_at=1.0, heartbeat_at=2.0)
    await store.register_instance(given)  # the times given are not the store's to take
    assert await store.list_instances() == [
        Instance("a", "host", 1234, "0.1.0", "idle", started_at=clock(), heartbeat_at=clock())
    ]


async def test_registering_again_replaces_the_instance(store: Store, clock: FakeClock) -> None:
    await store.register_instance(instance("a"))
    clock.advance(5)
    await store.register_instance(Instance(id="a", host="other", pid=9, version="0.2.0", state="running"))
    assert await store.list_instances() == [
        Instance("a", "other", 9, "0.2.0", "running", started_at=clock(), heartbeat_at=clock())
    ]


async def test_heartbeat_sets_the_state_and_the_heartbeat_to_now(store: Store, clock: FakeClock) -> None:
    await store.register_instance(instance("a"))
    started = clock()
    clock.advance(7.5)
    await store.heartbeat("a", "draining")
    [after] = await store.list_instances()
    assert (after.state, after.started_at, after.heartbeat_at) == ("draining", started, started + 7.5)


async def test_heartbeat_of_an_unregistered_instance_raises_store_error_and_creates_nothing(
    store: Store,
) -> None:
    with pytest.raises(StoreError, match="not registered"):
        await store.heartbeat("ghost", "running")
    assert await store.list_instances() == []


async def test_an_invalid_state_is_refused_and_changes_nothing(store: Store) -> None:
    await store.register_instance(instance("a"))
    with pytest.raises(StoreError):
        await store.heartbeat("a", "exploded")
    with pytest.raises(StoreError):
        await store.register_instance(instance("b", state="exploded"))
    assert [(i.id, i.state) for i in await store.list_instances()] == [("a", "idle")]


async def test_instances_are_listed_oldest_first(store: Store, clock: FakeClock) -> None:
    for id in ("m", "z", "a"):
        await store.register_instance(instance(id))
        clock.advance(1)
    await store.heartbeat("m", "running")  # a heartbeat does not make it younger
    assert [i.id for i in await store.list_instances()] == ["m", "z", "a"]


async def test_release_marks_the_instance_stopped_and_expires_its_leases_now(
    store: Store, clock: FakeClock
) -> None:
    await store.register_instance(instance("dead", state="running"))
    await store.register_instance(instance("alive", state="running"))
    run_id = await new_run(store, [queued("a", clock()), queued("b", clock()), queued("c", clock())])
    dead = await claim(store, "dead", limit=2, lease=60)
    alive = await claim(store, "alive", limit=1, lease=60)
    assert await store.expired_leases(10) == []

    assert await store.release_instance("dead") == 2
    states = {i.id: i.state for i in await store.list_instances()}
    assert states == {"dead": "stopped", "alive": "running"}
    # Reaped like any expired lease, without waiting for it to run out; others' untouched.
    assert sorted(await store.expired_leases(10)) == sorted((run_id, c.row.id, c.token) for c in dead)
    assert await store.renew_leases("alive", [(alive[0].row.id, alive[0].token)], 60) == {alive[0].row.id}


async def test_release_of_an_instance_holding_nothing_returns_zero(store: Store) -> None:
    await store.register_instance(instance("idle"))
    assert await store.release_instance("idle") == 0
    assert [i.state for i in await store.list_instances()] == ["stopped"]


async def test_dead_local_instances_are_those_of_the_host_not_stopped_whose_pid_is_not_alive(
    store: Store,
) -> None:
    await store.register_instance(instance("alive", host="here", pid=1))
    await store.register_instance(instance("dead", host="here", pid=2, state="running"))
    await store.register_instance(instance("gone", host="here", pid=3, state="stopped"))
    await store.register_instance(instance("remote", host="there", pid=4))
    dead = await store.dead_local_instances("here", [1, 4])
    assert [(i.id, i.pid, i.state) for i in dead] == [("dead", 2, "running")]


async def test_release_silent_instances_judges_each_by_its_own_heartbeat_timeout_but_me(
    store: Store, clock: FakeClock
) -> None:
    for id, state, timeout in (
        ("silent", "running", 10.0),
        ("patient", "running", 60.0),  # may go a minute without a beat
        ("beating", "running", 10.0),
        ("old", "running", None),  # an older version: judged by the unknown timeout
        ("gone", "stopped", 10.0),
        ("me", "running", 10.0),
    ):
        await store.register_instance(
            Instance(id=id, host="host", pid=1, version="0.1.0", state=state, heartbeat_timeout=timeout)
        )
    assert {i.id: i.heartbeat_timeout for i in await store.list_instances()}["patient"] == 60.0
    run_id = await new_run(store, [queued("a", clock()), queued("b", clock()), queued("c", clock())])
    silent = await claim(store, "silent", limit=2, lease=60)
    beating = await claim(store, "beating", limit=1, lease=60)
    clock.advance(8)
    await store.heartbeat("beating", "running")
    clock.advance(2)
    assert await store.release_silent_instances(me="me", unknown_timeout=30) == {}, "not older yet"
    clock.advance(1)  # silent, patient, old and me: 11 s without a beat; beating: 3 s
    assert await store.release_silent_instances(me="me", unknown_timeout=30) == {"silent": 2}
    states = {i.id: i.state for i in await store.list_instances()}
    assert states == {
        "silent": "stopped",
        "patient": "running",
        "beating": "running",
        "old": "running",
        "gone": "stopped",
        "me": "running",
    }
    assert sorted(await store.expired_leases(10)) == sorted((run_id, c.row.id, c.token) for c in silent)
    assert await store.renew_leases("beating", [(beating[0].row.id, beating[0].token)], 60) == {
        beating[0].row.id
    }
    assert await store.release_silent_instances(me="me", unknown_timeout=30) == {}, "released once"
    clock.advance(20)  # 31 s
    assert set(await store.release_silent_instances(me="me", unknown_timeout=30)) == {"old", "beating"}


async def test_steps_in_flight_counts_the_running_rows_each_instance_leases(
    store: Store, clock: FakeClock
) -> None:
    for id in ("busy", "light", "idle"):
        await store.register_instance(instance(id, state="running"))
    assert await store.steps_in_flight() == {}
    await new_run(store, [queued(step, clock()) for step in "abcdef"])
    busy = await claim(store, "busy", limit=3, lease=10)
    light = await claim(store, "light", limit=1, lease=10)
    assert await store.steps_in_flight() == {"busy": 3, "light": 1}, "idle holds none: left out"

    await set_step(store, busy[0].row.id, status=StepStatus.SUCCEEDED)  # its attempt ended
    assert await store.steps_in_flight() == {"busy": 2, "light": 1}
    clock.advance(11)  # light's lease expired, not yet reaped: still light's
    assert await store.steps_in_flight() == {"busy": 2, "light": 1}
    await set_step(store, light[0].row.id, status=StepStatus.QUEUED)  # reaped: back in the queue
    assert await store.steps_in_flight() == {"busy": 2}
