"""for_each's mapping form: matrices (include/exclude), fail_fast and min_success, on both
backends."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

from tests.support.checks import not_none
from tests.support.engine import Harness
from tests.support.waiting import async_wait_until


async def test_a_matrix_runs_one_item_per_combination_in_order(harness: Harness) -> None:
    run_id = await harness.submit(
        """
name: matrix
inputs: {type: object, properties: {pythons: {type: array}}}
steps:
  - id: build
    action: noop
    for_each:
      matrix:
        os: [linux, mac]
        python: "{{ inputs.pythons }}"
      exclude: [{os: mac, python: "3.11"}]
      include:
        - {os: linux, experimental: true}
        - {os: windows, python: "3.12"}
    with: {output: "{{ index }}:{{ item.os }}-{{ item.python }}{{ '!' if 'experimental' in item else '' }}"}
    outputs: {label: "{{ result }}", os: "{{ item.os }}"}
outputs:
  labels: "{{ steps.build.output | map(attribute='label') | list }}"
""",
        {"pythons": ["3.11", "3.12"]},
    )
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert run.outputs == {
        "labels": ["0:linux-3.11!", "1:linux-3.12!", "2:mac-3.12", "3:windows-3.12"],
    }
    assert steps["build[3]"].state["item"] == {"os": "windows", "python": "3.12"}


async def test_fail_fast_cancels_the_other_items_and_fails_at_once(harness: Harness, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    run_id = await harness.submit(f"""
name: fail_fast
steps:
  - id: test
    action: shell
    concurrency: 3
    for_each:
      items: [slow, slow, bad, slow, slow]
      fail_fast: true
    with:
      command: "if [ {{{{ item }}}} = bad ]; then while [ $(wc -l < {pids}) -lt 2 ]; do sleep 0.05; done; exit 3; fi; echo $$ >> {pids}; exec sleep 300"
  - {{id: report, action: noop, needs: [test], trigger_rule: all_done}}
""")
    run, steps = await harness.wait(run_id)
    assert steps["test"].status == "failed"
    assert not_none(steps["test"].error).startswith("for_each fail_fast: item 2 failed: command failed")
    assert steps["test[2]"].status == "failed"
    for index in (0, 1, 3, 4):  # two were running, two not started yet
        item = steps[f"test[{index}]"]
        assert (item.status, item.error) == ("cancelled", "cancelled: for_each fail_fast"), index
    assert steps["report"].status == "succeeded"
    assert run.status == "failed"
    for pid in map(int, pids.read_text().split()):
        await async_wait_until(partial(_gone, pid), what=f"command {pid} stopped")


async def test_min_success_ends_the_step_once_enough_items_succeeded(harness: Harness) -> None:
    run_id = await harness.submit("""
name: quorum
steps:
  - id: ask
    action: wait
    for_each:
      items: [a, b, c, d]
      min_success: 2
    with: {signal: "vote_{{ item }}"}
  - {id: tally, action: noop, needs: [ask], with: {output: "{{ steps.ask.output }}"}}
""")
    await harness.wait_step(run_id, "ask", "running")
    await harness.engine.signal(run_id, "vote_c", "yes")
    await harness.engine.signal(run_id, "vote_a", "no")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert steps["ask"].output == ["no", None, "yes", None]  # unfinished items: null
    assert steps["tally"].output == ["no", None, "yes", None]
    for index in (1, 3):
        assert steps[f"ask[{index}]"].status == "cancelled"
        assert steps[f"ask[{index}]"].error == "cancelled: for_each min_success 2 reached"


async def test_min_success_fails_once_it_can_no_longer_be_reached(harness: Harness) -> None:
    run_id = await harness.submit("""
name: no_quorum
steps:
  - id: ask
    action: shell
    for_each:
      items: [1, 0, 1, 0]
      min_success: 3
    concurrency: 1
    with: {command: "exit {{ item }}"}
""")
    run, steps = await harness.wait(run_id)
    assert steps["ask"].status == "failed"
    assert not_none(steps["ask"].error).startswith(
        "for_each min_success 3 can no longer be reached: item 0 failed"
    )
    assert [steps[f"ask[{i}]"].status for i in range(4)] == ["failed", "succeeded", "failed", "cancelled"]
    assert run.status == "failed"


async def test_min_success_above_the_items_given_fails_the_step_at_once(harness: Harness) -> None:
    run_id = await harness.submit(
        """
name: too_few
steps:
  - id: ask
    action: noop
    for_each: {items: "{{ inputs.voters }}", min_success: 3}
""",
        {"voters": ["a", "b"]},
    )
    run, steps = await harness.wait(run_id)
    assert (steps["ask"].status, steps["ask"].error) == ("failed", "for_each gave 2 items; min_success is 3")
    assert not [name for name in steps if name.startswith("ask[")], "no item ran"


async def test_a_matrix_template_that_gives_no_list_fails_the_step(harness: Harness) -> None:
    run_id = await harness.submit("""
name: bad_axis
steps:
  - id: build
    action: noop
    for_each: {matrix: {os: "{{ 'linux' }}"}}
""")
    run, steps = await harness.wait(run_id)
    assert steps["build"].status == "failed"
    assert steps["build"].error == "for_each.matrix.os must give a list, not str"


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False
