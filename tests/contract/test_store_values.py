"""Values as the store keeps them: JSON documents, free text and times read back as they
were written, the same on every backend (including what PostgreSQL cannot store as is)."""

from __future__ import annotations

import math
import uuid

import pytest

from executor.statuses import StepStatus
from executor.store import Store
from executor.store.records import LogLine, NewRun, NewStep
from tests.contract.helpers import FakeClock, new_run, row, run_of, set_run, set_step, workflow


async def test_json_values_read_back_equal(store: Store) -> None:
    value = {"s": 'ünïcode ✓ \\u0000 "q"', "i": 2**60, "f": 0.1 + 0.2, "l": [None, True, {"n": []}]}
    run_id = await new_run(store, [NewStep("a", state=value)], run_input=value)
    _, rows = await run_of(store, run_id)
    await set_step(store, rows["a"].id, output=value)
    await set_run(store, run_id, outputs=value)
    run, rows = await run_of(store, run_id)
    assert run.input == value and run.outputs == value
    assert rows["a"].state == value and rows["a"].output == value


async def test_a_run_input_of_none_reads_back_as_none(store: Store) -> None:
    version = await workflow(store)
    run_id = str(uuid.uuid4())
    async with store.transaction() as txn:
        await txn.insert_run(NewRun(id=run_id, workflow_name="w", workflow_version=version, input=None))
    assert (await run_of(store, run_id))[0].input is None


async def test_nul_characters_are_kept_as_replacement_characters(store: Store, clock: FakeClock) -> None:
    # PostgreSQL stores no NUL in text or JSON: a program's output may hold one all the same.
    run_id = await new_run(store, [NewStep("a")], run_input={"in\x00": "x\x00y"})
    a = (await run_of(store, run_id))[1]["a"]
    await set_step(
        store, a.id, status=StepStatus.FAILED, output=["o\x00"], state={"s": "\x00"}, error="e\x00"
    )
    await set_run(store, run_id, outputs={"o": "\\\x00"}, error="r\x00")
    await store.append_logs([LogLine(a.id, 1, "stdout", "l\x00ine", clock())])
    async with store.transaction() as txn:
        await txn.insert_signal(run_id, "go", "p\x00")
        assert await txn.take_signal(run_id, "go", a.id) == (True, "p\ufffd")
    run, rows = await run_of(store, run_id)
    assert (run.input, run.outputs, run.error) == ({"in\ufffd": "x\ufffdy"}, {"o": "\\\ufffd"}, "r\ufffd")
    assert (rows["a"].output, rows["a"].state, rows["a"].error) == (["o\ufffd"], {"s": "\ufffd"}, "e\ufffd")
    assert [x.line for x in await store.read_logs(a.id)] == ["l\ufffdine"]


async def test_lone_surrogates_in_json_are_kept_as_replacement_characters(store: Store) -> None:
    # A reply's "\ud800" decodes to a string no UTF-8 can carry: PostgreSQL's jsonb refuses
    # it, and a response holding it cannot be sent. Pairs (an emoji) and look-alike text stay.
    run_id = await new_run(store, [NewStep("a")])
    a = (await run_of(store, run_id))[1]["a"]
    output = {
        "lone": "a\ud800b",
        "low": "\udc00",
        "pair": "\ud83d\ude00",
        "text": "\\ud800",
        "both": "\ud800\ud800\udc00",
    }
    await set_step(store, a.id, output=output)
    assert (await row(store, a.id)).output == {
        "lone": "a\ufffdb",
        "low": "\ufffd",
        "pair": "😀",
        "text": "\\ud800",
        "both": "\ufffd\U00010000",
    }


async def test_nan_and_infinity_are_kept_as_null(store: Store) -> None:
    run_id = await new_run(store, [NewStep("a")])
    a = (await run_of(store, run_id))[1]["a"]
    await set_step(store, a.id, output={"nan": math.nan, "inf": [math.inf, -math.inf], "ok": 1.5})
    assert (await row(store, a.id)).output == {"nan": None, "inf": [None, None], "ok": 1.5}


async def test_times_are_kept_to_the_microsecond(store: Store, clock: FakeClock) -> None:
    run_id = await new_run(store, [NewStep("a")])
    a = (await run_of(store, run_id))[1]["a"]
    await set_step(store, a.id, started_at=clock() + 0.123456, finished_at=clock() + 0.25)
    stored = await row(store, a.id)
    assert stored.started_at == pytest.approx(clock() + 0.123456, abs=1e-6)
    assert stored.finished_at == clock() + 0.25


async def test_update_step_without_changes_changes_nothing(store: Store) -> None:
    run_id = await new_run(store, [NewStep("a")])
    a = (await run_of(store, run_id))[1]["a"]
    async with store.transaction() as txn:
        await txn.update_step(a.id)
        await txn.update_run(run_id)
    assert (await row(store, a.id)) == a


async def test_a_cursor_that_names_no_run_id_lists_nothing(store: Store, clock: FakeClock) -> None:
    await new_run(store)
    assert await store.list_runs(before=(clock() + 1, "not-a-run-id")) == []
    assert len(await store.list_runs(before=(clock() + 1, str(uuid.uuid4())))) == 1
