"""Runaway templates in the engine: a ``when``, ``for_each`` or ``outputs`` still rendering
holds no transaction, so other runs commit meanwhile; the change runs again once it is
rendered, and fails its step with the limit named."""

from __future__ import annotations

import asyncio

from tests.support.checks import not_none
from tests.support.engine import Harness
from tests.support.waiting import async_wait_until

RUNAWAY = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
# Reads `run.id`: a run created again by a change that runs again keeps its id, or the
# render it waited for would never be the one it asks for.
RUNAWAY_WITH_ID = (
    "{% for a in range(100000) %}{% for b in range(100000) %}{% if run.id == 'x' %}{% endif %}"
    "{% endfor %}{% endfor %}"
)

ORDINARY = """
name: ordinary
steps:
  - {id: a, action: noop, with: {output: "{{ inputs.n }}"}}
  - {id: b, action: noop, needs: [a], with: {output: "{{ steps.a.output + 1 }}"}}
"""


async def test_a_runaway_when_holds_no_transaction(harness: Harness) -> None:
    harness.engine.renderer.timeout = 1.0
    runaway = await harness.submit(f"""
name: runaway
steps:
  - {{id: first, action: noop}}
  - {{id: spin, action: noop, needs: [first], when: "{RUNAWAY}"}}
""")
    # The change that records `first` decides `spin`: it waits, outside any transaction,
    # for the render of `spin`'s `when` to end (and only then commits).
    await async_wait_until(lambda: harness.engine.renderer._jobs, what="the render to start")
    await harness.register(ORDINARY)
    ordinary = [await harness.submit("ordinary", {"n": n}) for n in range(5)]
    finished = []
    for n, run_id in enumerate(ordinary):
        run, steps = await harness.wait(run_id, timeout=5)
        assert run.status == "succeeded" and steps["b"].output == n + 1
        finished.append(not_none(run.finished_at))
    run, steps = await harness.wait(runaway)
    # The others committed while the template rendered (they take milliseconds, it 1 s).
    assert max(finished) < not_none(run.finished_at) - 0.5
    assert steps["spin"].status == "failed"
    assert steps["spin"].error == f"when: {RUNAWAY}: template rendering exceeded 1s"
    assert run.status == "failed" and not_none(run.error).startswith("step spin failed: when: ")


async def test_first_steps_and_child_runs_keep_their_ids_while_a_template_renders(harness: Harness) -> None:
    harness.engine.renderer.timeout = 0.5
    await harness.register(f"""
name: child
steps:
  - {{id: inner, action: noop, for_each: "{RUNAWAY_WITH_ID}"}}
""")
    parent = await harness.submit(f"""
name: parent
steps:
  - {{id: spin, action: noop, when: "{RUNAWAY_WITH_ID}"}}
  - {{id: call, action: workflow, with: {{name: child}}}}
""")
    run, steps = await asyncio.wait_for(harness.wait(parent), 20)
    assert steps["spin"].error == f"when: {RUNAWAY_WITH_ID}: template rendering exceeded 500ms"
    assert "for_each: " in not_none(steps["call"].error)
    assert "template rendering exceeded 500ms" in not_none(steps["call"].error)
    assert len(await harness.engine.list_runs(workflow="child")) == 1, "one child run, created once"


async def test_a_runaway_step_outputs_fails_the_step_and_workflow_outputs_the_run(harness: Harness) -> None:
    harness.engine.renderer.timeout = 0.5
    run_id = await harness.submit(f"""
name: shaped
steps:
  - {{id: one, action: noop, with: {{output: 1}}, outputs: {{n: "{RUNAWAY}"}}}}
""")
    run, steps = await harness.wait(run_id)
    assert steps["one"].status == "failed" and steps["one"].attempt == 1
    assert steps["one"].error == f"outputs.n: {RUNAWAY}: template rendering exceeded 500ms"
    run_id = await harness.submit(f"""
name: finished
steps:
  - {{id: one, action: noop, with: {{output: 1}}}}
outputs: {{total: "{{% for i in range(3) %}}{{{{ i }}}}{{% endfor %}}", late: "{RUNAWAY}"}}
""")
    run, _ = await harness.wait(run_id)
    assert run.status == "failed"
    assert run.error == f"outputs.late: {RUNAWAY}: template rendering exceeded 500ms"


async def test_unbounded_templates_that_finish_give_their_values(harness: Harness) -> None:
    run_id = await harness.submit("""
name: loops
steps:
  - id: fan
    action: noop
    for_each: "{{ [1, 2, 3] | batch(1 + 0) | list }}"
    when: "{% for i in range(2) %}{% endfor %}yes"
    with: {output: "{% for c in item %}<{{ c }}>{% endfor %}"}
    outputs: {twice: "{% for i in range(2) %}{{ result }}{% endfor %}"}
outputs: {all: "{% for o in steps.fan.output %}{{ o.twice }};{% endfor %}"}
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert run.outputs == {"all": "<1><1>;<2><2>;<3><3>;"}
