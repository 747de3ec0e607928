"""Group commit: changes share transactions, and one change's failure is never another's."""

from __future__ import annotations

import asyncio
import gc
import uuid
from typing import Any

import pytest

from executor.engine import Event
from executor.engine.events import StepEvent
from executor.engine.transitions import ChangeScope
from executor.errors import ExecutorError, WorkflowNotFound
from executor.store.base import Txn
from executor.store.records import NewRun
from tests.support.checks import not_none, not_raised
from tests.support.engine import Harness, running_engine

ONE = """
name: one
steps:
  - {id: only, action: noop, with: {output: 1}}
"""

CHAIN = """
name: chain
steps:
  - {id: a, action: noop}
  - {id: b, action: noop, needs: [a]}
  - {id: c, action: noop, needs: [b]}
"""


async def test_changes_sent_together_share_transactions(harness: Harness) -> None:
    await harness.register(ONE)
    before = harness.engine.commits.groups
    runs = await asyncio.gather(*(harness.engine.submit("one", {}) for _ in range(50)))
    assert len({run.id for run, _ in runs}) == 50
    # Every submit was answered after its commit, in far fewer transactions than submits.
    assert harness.engine.commits.groups - before < 25
    for run, _ in runs:
        stored, _ = await harness.engine.get(run.id)  # committed: readable from another connection
        assert stored.workflow_name == "one"


async def test_a_change_that_fails_before_writing_fails_alone(harness: Harness) -> None:
    await harness.register(ONE)
    results = await asyncio.gather(
        *(harness.engine.submit("one", {}) for _ in range(5)),
        harness.engine.submit("no-such-workflow", {}),
        *(harness.engine.submit("one", {}) for _ in range(5)),
        return_exceptions=True,
    )
    assert isinstance(results[5], WorkflowNotFound)
    good = [not_raised(result)[0] for i, result in enumerate(results) if i != 5]
    for run in good:
        finished, _ = await harness.wait(run.id)
        assert finished.status == "succeeded"


async def test_a_change_that_fails_after_writing_leaves_nothing_and_spares_the_others(
    harness: Harness,
) -> None:
    await harness.register(ONE)
    doomed = str(uuid.uuid4())

    async def half_written(txn: Txn, scope: ChangeScope) -> None:
        await txn.insert_run(NewRun(id=doomed, workflow_name="one", workflow_version=1, input={}))
        raise ExecutorError("failed after writing")

    results = await asyncio.gather(
        harness.engine.submit("one", {}),
        harness.engine.change(half_written),
        harness.engine.submit("one", {}),
        return_exceptions=True,
    )
    assert isinstance(results[1], ExecutorError) and results[1].message == "failed after writing"
    assert await harness.engine.store.get_run(doomed) is None, "the failed change was rolled back"
    for result in (results[0], results[2]):
        assert not isinstance(result, BaseException)
        finished, _ = await harness.wait(result[0].id)
        assert finished.status == "succeeded"


async def test_a_chain_claims_each_next_step_in_the_transaction_that_completes_the_last(
    harness: Harness,
) -> None:
    await harness.register(CHAIN)
    claims = harness.engine.loop.claims
    groups = harness.engine.commits.groups
    run, _ = await harness.engine.submit("chain", {})
    finished, steps = await harness.wait(run.id)
    assert finished.status == "succeeded"
    assert not_none(steps["b"].started_at) >= not_none(steps["a"].finished_at)
    assert not_none(steps["c"].started_at) >= not_none(steps["b"].finished_at)
    # submit+claim a, complete a+claim b, complete b+claim c, complete c: four commits; the
    # claim loop's own claims (one at start, perhaps a wake finding nothing) come on top,
    # and it never had to claim a, b or c itself.
    loop_claims = harness.engine.loop.claims - claims
    assert loop_claims <= 2
    assert harness.engine.commits.groups - groups <= 4 + loop_claims


async def test_claims_made_for_the_loop_respect_its_concurrency(database_url: str) -> None:
    async with running_engine(database_url, concurrency=3) as harness:
        await harness.register(
            "name: slow\nsteps:\n  - {id: s, action: shell, with: {command: 'sleep 0.2'}}\n"
        )
        running: set[str] = set()
        most = 0

        def watch(event: Event) -> None:
            nonlocal most
            if isinstance(event, StepEvent) and event.status == "running":
                running.add(event.run_id)
            elif isinstance(event, StepEvent):
                running.discard(event.run_id)
            most = max(most, len(running))

        harness.engine.listeners.append(watch)
        runs = [(await harness.engine.submit("slow", {}))[0].id for _ in range(9)]
        for run_id in runs:
            finished, _ = await harness.wait(run_id)
            assert finished.status == "succeeded"
        assert most == 3


async def test_a_caller_cancelled_while_its_change_is_replayed_does_not_stop_the_writer(
    harness: Harness,
) -> None:
    await harness.register(ONE)
    troubles: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: troubles.append(context))

    async def half_written(txn: Txn, scope: ChangeScope) -> None:
        await txn.insert_run(NewRun(id=str(uuid.uuid4()), workflow_name="one", workflow_version=1, input={}))
        raise ExecutorError("failed after writing")

    failing = asyncio.create_task(harness.engine.change(half_written))
    impatient = asyncio.create_task(harness.engine.submit("one", {}))
    await asyncio.sleep(0)  # both queued in one group, which fails and is replayed change by change
    impatient.cancel()
    with pytest.raises(ExecutorError):
        await failing
    with pytest.raises(asyncio.CancelledError):
        await impatient
    run, _ = await harness.engine.submit("one", {})  # the writer still serves
    finished, _ = await harness.wait(run.id)
    assert finished.status == "succeeded"
    gc.collect()  # a writer task that died of the cancelled caller would be reported now
    assert troubles == []
