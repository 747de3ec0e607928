"""`wait` on a list of signals: the first to arrive wins; the others stay for later."""

from __future__ import annotations

from tests.support.engine import Harness

CHOICE = """
name: choice
steps:
  - {id: decide, action: wait, with: {signal: [approve, reject]}}
  - id: verdict
    action: noop
    needs: [decide]
    with: {output: "{{ steps.decide.output.signal }} by {{ steps.decide.output.payload.by }}"}
"""


async def test_the_first_of_two_signals_wins_with_its_name_and_payload(harness: Harness) -> None:
    run_id = await harness.submit(CHOICE)
    await harness.wait_step(run_id, "decide", "waiting")
    assert await harness.engine.signal(run_id, "reject", {"by": "bob"}) is True
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded"
    assert steps["decide"].output == {"signal": "reject", "payload": {"by": "bob"}}
    assert steps["verdict"].output == "reject by bob"


async def test_of_signals_sent_before_the_wait_the_earliest_received_wins(harness: Harness) -> None:
    run_id = await harness.submit("""
name: early-choice
steps:
  - {id: first, action: wait, with: {signal: start}}
  - {id: decide, action: wait, needs: [first], with: {signal: [approve, reject]}}
""")
    await harness.wait_step(run_id, "first", "waiting")
    assert await harness.engine.signal(run_id, "reject", "no") is False, "nobody waits for it yet: kept"
    assert await harness.engine.signal(run_id, "approve", "yes") is False
    await harness.engine.signal(run_id, "start")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded"
    assert steps["decide"].output == {"signal": "reject", "payload": "no"}


async def test_the_losing_signal_stays_for_a_later_wait(harness: Harness) -> None:
    run_id = await harness.submit("""
name: loser-kept
steps:
  - {id: decide, action: wait, with: {signal: [approve, reject]}}
  - {id: later, action: wait, needs: [decide], with: {signal: reject}}
""")
    await harness.wait_step(run_id, "decide", "waiting")
    await harness.engine.signal(run_id, "approve", 1)
    await harness.wait_step(run_id, "decide", "succeeded")
    await harness.engine.signal(run_id, "reject", 2)
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded"
    assert steps["decide"].output == {"signal": "approve", "payload": 1}
    assert steps["later"].output == 2


async def test_both_sent_at_once_one_decides_and_the_other_is_left(harness: Harness) -> None:
    run_id = await harness.submit("""
name: both
steps:
  - {id: decide, action: wait, with: {signal: [approve, reject]}}
  - {id: again, action: wait, needs: [decide], with: {signal: [approve, reject]}}
""")
    await harness.wait_step(run_id, "decide", "waiting")
    await harness.engine.signal(run_id, "approve", "a")
    await harness.engine.signal(run_id, "reject", "r")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded"
    assert steps["decide"].output == {"signal": "approve", "payload": "a"}
    assert steps["again"].output == {"signal": "reject", "payload": "r"}


async def test_a_single_name_keeps_the_payload_as_its_output(harness: Harness) -> None:
    run_id = await harness.submit("""
name: single
steps:
  - {id: one, action: wait, with: {signal: approve}}
  - {id: listed, action: wait, needs: [one], with: {signal: [approve]}}
""")
    await harness.wait_step(run_id, "one", "waiting")
    await harness.engine.signal(run_id, "approve", {"n": 1})
    await harness.wait_step(run_id, "listed", "waiting")
    await harness.engine.signal(run_id, "approve", {"n": 2})
    run, steps = await harness.wait(run_id)
    assert steps["one"].output == {"n": 1}
    assert steps["listed"].output == {"signal": "approve", "payload": {"n": 2}}


async def test_a_choice_times_out_naming_its_signals(harness: Harness) -> None:
    run_id = await harness.submit("""
name: choice-timeout
steps:
  - {id: decide, action: wait, with: {signal: [approve, reject], timeout: 200ms}}
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "failed"
    assert steps["decide"].error == "no signal of approve, reject arrived within 200ms"


async def test_a_templated_signal_list_is_rendered_and_checked(harness: Harness) -> None:
    text = """
name: templated-choice
inputs:
  type: object
  properties: {names: {type: array}}
steps:
  - {id: decide, action: wait, with: {signal: "{{ inputs.names }}"}}
"""
    run_id = await harness.submit(text, {"names": ["yes", "no"]})
    await harness.wait_step(run_id, "decide", "waiting")
    await harness.engine.signal(run_id, "no", None)
    run, steps = await harness.wait(run_id)
    assert steps["decide"].output == {"signal": "no", "payload": None}

    bad = await harness.submit("templated-choice", {"names": []})
    run, steps = await harness.wait(bad)
    assert run.status == "failed"
    assert steps["decide"].error == "signal must name at least one signal"


async def test_a_finally_step_takes_a_choice_too(harness: Harness) -> None:
    run_id = await harness.submit("""
name: finally-choice
steps:
  - {id: main, action: noop}
finally:
  - {id: ack, action: wait, with: {signal: [ok, nok]}}
""")
    await harness.wait_step(run_id, "ack", "waiting")
    assert await harness.engine.signal(run_id, "nok", 1) is True
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded" and steps["ack"].output == {"signal": "nok", "payload": 1}
