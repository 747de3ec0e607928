"""Calls to models (`llm`): recorded whatever became of their attempt, added up per run in
one query, listed page by page, and deleted with their run."""

from __future__ import annotations

import uuid

from executor.statuses import RunStatus
from executor.store import Store
from executor.store.records import LlmTotals, NewLlmCall
from tests.contract.helpers import FakeClock, new_run, set_run


def call(
    run_id: str,
    step: str = "ask",
    *,
    item_index: int = -1,
    attempt: int = 1,
    input_tokens: int = 100,
    output_tokens: int = 20,
    cost_usd: float | None = 0.25,
    error: str | None = None,
) -> NewLlmCall:
    return NewLlmCall(
        run_id=run_id,
        step_id=step,
        item_index=item_index,
        attempt=attempt,
        model="gpt-test",
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_tokens=10,
        reasoning_tokens=5,
        cost_usd=cost_usd,
        seconds=1.5,
        error=error,
    )


async def test_calls_add_up_per_run(store: Store) -> None:
    run_id, other = await new_run(store), await new_run(store)
    await store.record_llm_calls(
        [
            call(run_id),
            call(run_id, attempt=2, cost_usd=0.5, error="answered 500"),
            call(run_id, "other", item_index=3, cost_usd=None, input_tokens=7, output_tokens=0),
            call(other, cost_usd=9.0),
        ]
    )
    totals = await store.run_llm_totals(run_id)
    # The call without a price adds nothing to the cost.
    assert totals == LlmTotals(
        calls=3, input_tokens=207, output_tokens=40, cached_tokens=30, reasoning_tokens=15, cost_usd=0.75
    )
    assert (await store.run_llm_totals(other)).cost_usd == 9.0


async def test_a_run_without_calls_or_no_run_adds_up_to_zeros(store: Store) -> None:
    run_id = await new_run(store)
    await store.record_llm_calls([call(run_id, cost_usd=None)])
    assert await store.run_llm_totals(run_id) == LlmTotals(
        calls=1, input_tokens=100, output_tokens=20, cached_tokens=10, reasoning_tokens=5, cost_usd=0.0
    )
    assert await store.run_llm_totals(await new_run(store)) == LlmTotals()
    assert await store.run_llm_totals(str(uuid.uuid4())) == LlmTotals()
    assert await store.run_llm_totals("not-a-run") == LlmTotals()


async def test_calls_are_listed_oldest_first_page_by_page(store: Store, clock: FakeClock) -> None:
    run_id = await new_run(store)
    await store.record_llm_calls([call(run_id, attempt=1, error="bad\x00key")])
    clock.advance(2)
    await store.record_llm_calls([call(run_id, attempt=2), call(run_id, attempt=3, cost_usd=None)])
    calls = await store.list_llm_calls(run_id)
    assert [c.attempt for c in calls] == [1, 2, 3]
    first = calls[0]
    assert (first.run_id, first.step_id, first.item_index, first.model) == (run_id, "ask", -1, "gpt-test")
    assert (first.input_tokens, first.output_tokens, first.cached_tokens, first.reasoning_tokens) == (
        100,
        20,
        10,
        5,
    )
    assert (first.cost_usd, first.seconds) == (0.25, 1.5)
    assert first.outcome == "failed" and first.error == "bad\ufffdkey"  # NUL kept alike by both
    assert calls[1].outcome == "succeeded" and calls[1].error is None
    assert calls[2].cost_usd is None
    assert first.created_at == clock() - 2 and calls[1].created_at == clock()
    page = await store.list_llm_calls(run_id, after=calls[0].id, limit=1)
    assert [c.attempt for c in page] == [2]
    assert await store.list_llm_calls(run_id, after=calls[2].id) == []
    assert await store.list_llm_calls("not-a-run") == []


async def test_a_call_of_a_run_that_is_gone_is_dropped(store: Store) -> None:
    run_id = await new_run(store)
    await store.record_llm_calls([call(str(uuid.uuid4())), call(run_id)])
    assert [c.run_id for c in await store.list_llm_calls(run_id)] == [run_id]


async def test_calls_go_with_their_run(store: Store, clock: FakeClock) -> None:
    old, kept = await new_run(store), await new_run(store)
    await store.record_llm_calls([call(old), call(old), call(kept)])
    await set_run(store, old, status=RunStatus.SUCCEEDED, finished_at=clock() - 100)
    batch = await store.purge_runs(50)
    assert batch.deleted == 1
    assert await store.list_llm_calls(old) == [] and await store.run_llm_totals(old) == LlmTotals()
    assert len(await store.list_llm_calls(kept)) == 1
