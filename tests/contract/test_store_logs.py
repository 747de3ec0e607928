"""Step logs: appended in batches (whole or not at all), read per step by line id."""

from __future__ import annotations

import pytest

from executor.errors import StoreError
from executor.store import Store
from executor.store.records import LogLine, NewStep
from tests.contract.helpers import FakeClock, new_run, run_of


async def two_steps(store: Store) -> tuple[int, int]:
    _, rows = await run_of(store, await new_run(store, [NewStep("a"), NewStep("b")]))
    return rows["a"].id, rows["b"].id


async def test_logs_are_read_back_oldest_first_as_appended(store: Store, clock: FakeClock) -> None:
    a, _ = await two_steps(store)
    t = clock()
    await store.append_logs([LogLine(a, 1, "stdout", "one", t), LogLine(a, 1, "stderr", "two ✓", t + 0.5)])
    await store.append_logs([LogLine(a, 2, "system", "three", t + 1)])
    lines = await store.read_logs(a)
    assert [(x.attempt, x.stream, x.line, x.created_at) for x in lines] == [
        (1, "stdout", "one", t),
        (1, "stderr", "two ✓", t + 0.5),
        (2, "system", "three", t + 1),
    ]
    assert [x.id for x in lines] == sorted({x.id for x in lines})


async def test_read_logs_reads_after_a_line_id_up_to_a_limit(store: Store, clock: FakeClock) -> None:
    a, _ = await two_steps(store)
    await store.append_logs([LogLine(a, 1, "stdout", str(n), clock()) for n in range(5)])
    ids = [x.id for x in await store.read_logs(a)]
    assert [x.line for x in await store.read_logs(a, after=ids[1])] == ["2", "3", "4"]
    assert [x.line for x in await store.read_logs(a, after=ids[1], limit=2)] == ["2", "3"]
    assert await store.read_logs(a, after=ids[-1]) == []


async def test_logs_are_kept_per_step(store: Store, clock: FakeClock) -> None:
    a, b = await two_steps(store)
    await store.append_logs(
        [LogLine(a, 1, "stdout", "for a", clock()), LogLine(b, 1, "stdout", "for b", clock())]
    )
    assert [x.line for x in await store.read_logs(a)] == ["for a"]
    assert [x.line for x in await store.read_logs(b)] == ["for b"]
    assert await store.read_logs(b + 1000) == []


async def test_a_batch_of_lines_is_appended_whole_or_not_at_all(store: Store, clock: FakeClock) -> None:
    a, _ = await two_steps(store)
    with pytest.raises(StoreError):
        await store.append_logs(
            [LogLine(a, 1, "stdout", "fine", clock()), LogLine(a, 1, "bogus", "bad", clock())]
        )
    assert await store.read_logs(a) == []


async def test_appending_no_lines_does_nothing(store: Store) -> None:
    await store.append_logs([])
