"""Signals: kept until a `wait` step takes them; the oldest first, each at most once."""

from __future__ import annotations

import asyncio
from typing import Any

from executor.statuses import StepStatus
from executor.store import Store
from executor.store.records import NewStep
from tests.contract.helpers import OpenStore, new_run, run_of


async def waiting_run(store: Store) -> tuple[str, int]:
    run_id = await new_run(store, [NewStep("wait", status=StepStatus.WAITING)])
    [step] = (await run_of(store, run_id))[1].values()
    return run_id, step.id


async def send(store: Store, run_id: str, name: str, payload: Any) -> int:
    async with store.transaction() as txn:
        return await txn.insert_signal(run_id, name, payload)


async def take(store: Store, run_id: str, name: str, step: int) -> tuple[bool, Any]:
    async with store.transaction() as txn:
        return await txn.take_signal(run_id, name, step)


async def test_insert_signal_returns_a_new_id_each_time(store: Store) -> None:
    run_id, _ = await waiting_run(store)
    ids = [await send(store, run_id, "go", n) for n in range(3)]
    assert len(set(ids)) == 3 and ids == sorted(ids)


async def test_take_signal_consumes_the_oldest_first(store: Store) -> None:
    run_id, step = await waiting_run(store)
    for payload in ({"n": 1}, [2], "three"):
        await send(store, run_id, "go", payload)
    assert [await take(store, run_id, "go", step) for _ in range(4)] == [
        (True, {"n": 1}),
        (True, [2]),
        (True, "three"),
        (False, None),
    ]


async def test_take_signal_finds_nothing_when_none_of_that_name_and_run_waits(store: Store) -> None:
    run_id, step = await waiting_run(store)
    other, _ = await waiting_run(store)
    assert await take(store, run_id, "go", step) == (False, None)
    await send(store, run_id, "stop", 1)
    await send(store, other, "go", 2)
    assert await take(store, run_id, "go", step) == (False, None)
    assert await take(store, other, "go", step) == (True, 2)


async def test_a_signal_without_payload_is_taken_as_none(store: Store) -> None:
    run_id, step = await waiting_run(store)
    await send(store, run_id, "go", None)
    assert await take(store, run_id, "go", step) == (True, None)
    assert await take(store, run_id, "go", step) == (False, None)


async def test_a_signal_taken_in_a_transaction_rolled_back_is_still_there(store: Store) -> None:
    run_id, step = await waiting_run(store)
    await send(store, run_id, "go", 1)
    try:
        async with store.transaction() as txn:
            assert await txn.take_signal(run_id, "go", step) == (True, 1)
            raise LookupError
    except LookupError:
        pass
    assert await take(store, run_id, "go", step) == (True, 1)


async def test_a_signal_is_taken_once_by_concurrent_takers(store: Store, open_store: OpenStore) -> None:
    run_id, step = await waiting_run(store)
    await send(store, run_id, "go", "only")
    await send(store, run_id, "other", "not this one")

    async def taker(on: Store) -> tuple[bool, Any]:
        async with on.transaction() as txn:
            taken = await txn.take_signal(run_id, "go", step)
            await asyncio.sleep(0.02)  # held open while the other takers try
            return taken

    async with open_store() as other:
        results = await asyncio.gather(*(taker(on) for _ in range(3) for on in (store, other)))
    assert sorted(results, key=repr) == [(False, None)] * 5 + [(True, "only")]


async def take_first(store: Store, run_id: str, names: list[str], step: int) -> tuple[str, Any] | None:
    async with store.transaction() as txn:
        return await txn.take_first_signal(run_id, names, step)


async def test_take_first_signal_takes_the_oldest_of_any_name_and_says_which(store: Store) -> None:
    run_id, step = await waiting_run(store)
    await send(store, run_id, "other", 0)
    await send(store, run_id, "reject", {"by": "bob"})
    await send(store, run_id, "approve", None)
    await send(store, run_id, "reject", 2)
    names = ["approve", "reject"]
    assert [await take_first(store, run_id, names, step) for _ in range(4)] == [
        ("reject", {"by": "bob"}),
        ("approve", None),
        ("reject", 2),
        None,
    ]
    assert await take_first(store, run_id, ["other"], step) == ("other", 0)


async def test_take_first_signal_of_no_names_takes_nothing(store: Store) -> None:
    run_id, step = await waiting_run(store)
    await send(store, run_id, "go", 1)
    assert await take_first(store, run_id, [], step) is None
    assert await take(store, run_id, "go", step) == (True, 1)


async def test_names_are_matched_whole_not_as_patterns(store: Store) -> None:
    run_id, step = await waiting_run(store)
    await send(store, run_id, "a%", 1)
    await send(store, run_id, "ab", 2)
    assert await take_first(store, run_id, ["a_", "a%"], step) == ("a%", 1)
    assert await take_first(store, run_id, ["a_", "a%"], step) is None


async def test_a_signal_sent_with_a_key_is_found_by_it_until_and_after_taken(store: Store) -> None:
    run_id, step = await waiting_run(store)
    async with store.transaction() as txn:
        assert await txn.signal_taken(run_id, "go", "k1") is None
        await txn.insert_signal(run_id, "go", 1, "k1")
        await txn.insert_signal(run_id, "other", 2, "k1")  # a key is per run and name
        assert await txn.signal_taken(run_id, "go", "k1") is False
    assert await take(store, run_id, "go", step) == (True, 1)
    async with store.transaction() as txn:
        assert await txn.signal_taken(run_id, "go", "k1") is True
        assert await txn.signal_taken(run_id, "other", "k1") is False
        assert await txn.signal_taken(run_id, "go", "k2") is None
