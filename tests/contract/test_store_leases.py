"""Leases: renewal by owner and token, expiry and reaping, fencing of a lost lease, and
handing rows back when a drain cancels their attempts. Time moves by the test's clock."""

from __future__ import annotations

from executor.statuses import RunStatus, StepStatus
from executor.store import Store
from executor.store.records import Claimed
from tests.contract.helpers import FakeClock, claim, new_run, queued, row, run_of, set_run, set_step, waiting


def held(claimed: list[Claimed]) -> list[tuple[int, str]]:
    return [(c.row.id, c.token) for c in claimed]


async def test_renew_extends_the_leases_still_held_by_the_owner(store: Store, clock: FakeClock) -> None:
    await new_run(store, [queued("a", clock()), queued("b", clock())])
    claimed = await claim(store, "me", lease=10)
    clock.advance(8)
    assert await store.renew_leases("me", held(claimed), 10) == {c.row.id for c in claimed}
    clock.advance(8)  # past the first lease, within the renewed one
    assert await store.expired_leases(10) == []
    assert {(await row(store, c.row.id)).lease_expires_at for c in claimed} == {clock() + 2}


async def test_renew_returns_only_rows_held_by_the_owner_with_the_right_token(
    store: Store, clock: FakeClock
) -> None:
    run_id = await new_run(store, [queued(s, clock()) for s in ("mine", "wrong-token", "theirs", "done")])
    mine = {c.row.step_id: c for c in await claim(store, "me", limit=4, lease=10)}
    theirs = mine.pop("theirs")
    await set_step(store, theirs.row.id, status=StepStatus.QUEUED, available_at=clock())
    [theirs] = await claim(store, "them", lease=10)
    await set_step(store, mine["done"].row.id, status=StepStatus.SUCCEEDED)
    clock.advance(5)
    asked = [
        (mine["mine"].row.id, mine["mine"].token),
        (mine["wrong-token"].row.id, theirs.token),  # a token of another claim
        (theirs.row.id, theirs.token),  # another owner's row, with its own token
        (mine["done"].row.id, mine["done"].token),  # finished: its lease is gone
        (mine["mine"].row.id + 1000, mine["mine"].token),  # no such row
    ]
    assert await store.renew_leases("me", asked, 10) == {mine["mine"].row.id}
    _, rows = await run_of(store, run_id)
    expiries = {s: r.lease_expires_at for s, r in rows.items()}
    assert expiries == {"mine": clock() + 10, "wrong-token": clock() + 5, "theirs": clock() + 5, "done": None}


async def test_renewing_nothing_renews_nothing(store: Store) -> None:
    assert await store.renew_leases("me", [], 10) == set()


async def test_expired_leases_are_the_running_rows_whose_lease_has_run_out(
    store: Store, clock: FakeClock
) -> None:
    run_id = await new_run(store, [queued(f"s{i}", clock()) for i in range(3)])
    short = await claim(store, "me", limit=2, lease=10)
    long = await claim(store, "me", limit=1, lease=20)
    clock.advance(10)
    assert await store.expired_leases(10) == [], "a lease runs out after its last instant"
    clock.advance(0.5)
    assert sorted(await store.expired_leases(10)) == sorted((run_id, c.row.id, c.token) for c in short)
    assert len(await store.expired_leases(1)) == 1
    await set_step(store, short[0].row.id, status=StepStatus.FAILED)  # no longer running: not reaped
    clock.advance(10)
    expired = sorted((run_id, c.row.id, c.token) for c in (short[1], *long))
    assert sorted(await store.expired_leases(10)) == expired


async def test_a_row_reclaimed_after_its_lease_expired_fences_the_old_lease(
    store: Store, clock: FakeClock
) -> None:
    await new_run(store, [queued("a", clock())])
    [old] = await claim(store, "frozen", lease=10)
    clock.advance(11)
    [(_, row_id, token)] = await store.expired_leases(10)
    assert (row_id, token) == (old.row.id, old.token)
    # The reaper puts the row back; another instance claims it under a new lease.
    await set_step(store, row_id, status=StepStatus.QUEUED, available_at=clock())
    [new] = await claim(store, "live", lease=10)
    assert new.row.id == old.row.id and new.token != old.token and new.row.attempt == 2
    # The old lease can no longer be renewed (its attempt must stop) ...
    assert await store.renew_leases("frozen", held([old]), 10) == set()
    assert await store.renew_leases("live", held([old]), 10) == set()
    # ... nor handed back ...
    assert await store.hand_back([old]) == 0
    # ... and its outcome is rejected: the row carries the new lease, which the engine
    # compares with the attempt's token before it records anything.
    async with store.transaction() as txn:
        current = await txn.get_step(row_id)
    assert current is not None
    assert (current.status, current.lease_token, current.lease_owner) == ("running", new.token, "live")
    assert await store.renew_leases("live", held([new]), 10) == {row_id}


async def test_hand_back_of_a_started_attempt_ends_it_lost_in_the_history(
    store: Store, clock: FakeClock
) -> None:
    run_id = await new_run(store, [queued("a", clock() - 5)])
    [claimed] = await claim(store, "me", lease=10)
    started = clock()
    await set_step(store, claimed.row.id, history=[{"attempt": 0, "outcome": "failed", "error": "x"}])
    clock.advance(3)
    assert await store.hand_back([claimed], started=[claimed.row.id]) == 1
    a = (await run_of(store, run_id))[1]["a"]
    assert (a.status, a.attempt, a.started_at, a.available_at) == ("queued", 1, None, clock())
    assert (a.lease_owner, a.lease_token, a.lease_expires_at) == (None, None, None)
    assert a.history == [
        {"attempt": 0, "outcome": "failed", "error": "x"},
        {
            "attempt": 1,
            "outcome": "lost",
            "reason": "drain",
            "instance": "me",
            "started_at": started,
            "ended_at": clock(),
        },
    ]
    [again] = await claim(store)
    assert again.row.attempt == 2, "every attempt keeps a number of its own (its logs are filed by it)"


async def test_hand_back_returns_a_queued_row_to_the_queue_with_its_attempt_restored(
    store: Store, clock: FakeClock
) -> None:
    run_id = await new_run(store, [queued("a", clock() - 5)])
    [claimed] = await claim(store, lease=10)
    assert claimed.row.attempt == 1
    clock.advance(3)
    assert await store.hand_back([claimed]) == 1
    a = (await run_of(store, run_id))[1]["a"]
    assert (a.status, a.attempt, a.started_at, a.available_at) == ("queued", 0, None, clock())
    assert (a.lease_owner, a.lease_token, a.lease_expires_at, a.history) == (None, None, None, None)
    [again] = await claim(store)
    assert (again.row.attempt, again.resumed) == (1, False), "the handed back attempt did not count"


async def test_hand_back_returns_a_resumed_waiting_row_to_waiting(store: Store, clock: FakeClock) -> None:
    run_id = await new_run(store, [waiting("sleep", clock(), state={"wake_at": clock()})])
    await set_run(store, run_id, status=RunStatus.RUNNING)
    await set_step(store, (await run_of(store, run_id))[1]["sleep"].id, attempt=1, started_at=clock() - 60)
    [claimed] = await claim(store)
    assert claimed.resumed
    clock.advance(2)
    assert await store.hand_back([claimed], started=[claimed.row.id]) == 1
    a = (await run_of(store, run_id))[1]["sleep"]
    assert a.history is None, "a resumed attempt goes on: it did not end"
    assert (a.status, a.attempt, a.started_at, a.available_at) == ("waiting", 1, clock() - 62, clock())
    assert a.state == {"wake_at": clock() - 2}
    assert (a.lease_owner, a.lease_token, a.lease_expires_at) == (None, None, None)


async def test_hand_back_leaves_alone_rows_whose_lease_is_not_held(store: Store, clock: FakeClock) -> None:
    run_id = await new_run(store, [queued(s, clock()) for s in ("kept", "done", "lost")])
    claimed = {c.row.step_id: c for c in await claim(store, limit=3)}
    await set_step(store, claimed["done"].row.id, status=StepStatus.SUCCEEDED, output=1)
    await set_step(store, claimed["lost"].row.id, status=StepStatus.QUEUED, available_at=clock())
    [reclaimed] = await claim(store, "other")
    before = (await run_of(store, run_id))[1]
    assert await store.hand_back(list(claimed.values())) == 1
    after = (await run_of(store, run_id))[1]
    assert after["kept"].status == "queued"
    assert (after["done"], after["lost"]) == (before["done"], before["lost"])
    assert after["lost"].lease_token == reclaimed.token


async def test_handing_back_nothing_returns_zero(store: Store) -> None:
    assert await store.hand_back([]) == 0


async def test_a_lease_that_expired_is_held_until_it_is_reaped(store: Store, clock: FakeClock) -> None:
    await new_run(store, [queued("a", clock())])
    [claimed] = await claim(store, "slow", lease=10)
    clock.advance(15)
    assert [token for *_, token in await store.expired_leases(10)] == [claimed.token]
    # Nobody took the row meanwhile: renewing in time keeps it.
    assert await store.renew_leases("slow", held([claimed]), 10) == {claimed.row.id}
    assert await store.expired_leases(10) == []


async def test_hand_back_names_the_iteration_of_a_step_that_iterates(store: Store, clock: FakeClock) -> None:
    run_id = await new_run(store, [queued("loop", clock() - 5), queued("plain", clock() - 5)])
    claimed = await claim(store, "me", limit=2, lease=10)
    looping = next(c for c in claimed if c.row.step_id == "loop")
    await set_step(store, looping.row.id, state={"loop": {"iteration": 2, "base": 0, "index": 2}})
    assert await store.hand_back(claimed, started=[c.row.id for c in claimed]) == 2
    _, rows = await run_of(store, run_id)
    (entry,) = rows["loop"].history or []
    assert (entry["reason"], entry["iteration"]) == ("drain", 2)
    (plain,) = rows["plain"].history or []
    assert "iteration" not in plain, "a step that never iterated keeps the entry it had"
