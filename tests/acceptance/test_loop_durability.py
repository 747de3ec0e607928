"""`repeat` loops and `goto` cycles survive SIGKILL of the service mid-way: after a restart
they go on at the iteration they were at. An iteration recorded before the kill is never
run again; the one cut by the kill runs again (at least once), under the same iteration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.test_durability import crash_site, kill_hard, serve
from tests.support import client
from tests.support.process import Server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow  # a kill, then a lease (3s) to run out

LOOP = """
name: crash_repeat
steps:
  - id: poll
    action: shell
    with: {{command: "echo {{{{ loop.index }}}} >> {marks}/poll; sleep 0.4"}}
    outputs: {{index: "{{{{ loop.index }}}}"}}
    repeat: {{until: "{{{{ loop.index >= 7 }}}}", max: 10, delay: 50ms}}
"""

CYCLE = """
name: crash_goto
steps:
  - id: build
    action: shell
    with: {{command: "echo $EXECUTOR_ATTEMPT >> {marks}/build; sleep 0.4; test -e {marks}/green && echo yes || echo no"}}
    outputs: {{green: "{{{{ result.stdout | trim == 'yes' }}}}"}}
  - id: check
    action: noop
    needs: [build]
    goto: {{step: build, when: "{{{{ not steps.build.output.green }}}}", max: 50}}
"""


def step(url: str, run_id: str, step_id: str) -> Any:
    ((_, rows),) = client.runs(url, [run_id])
    return next(row for row in rows if row.step_id == step_id and row.item_index < 0)


def mid_way(url: str, run_id: str, step_id: str) -> bool:
    """The step runs an attempt after at least two iterations were recorded."""
    row = step(url, run_id, step_id)
    done = [e for e in row.history or () if e["outcome"] == "succeeded"]
    return row.status == "running" and len(done) >= 2


def succeeded_iterations(history: list[dict[str, Any]]) -> list[int]:
    return [int(e.get("iteration", 0)) for e in history if e["outcome"] == "succeeded"]


def test_loops_and_cycles_resume_at_their_iteration_after_sigkill(
    executor: list[str], workdir: Path, servers: list[Server]
) -> None:
    marks, url = crash_site(executor, workdir)
    (loop_id,) = client.submit(url, LOOP.format(marks=marks), [{}])
    (cycle_id,) = client.submit(url, CYCLE.format(marks=marks), [{}])

    server = serve(executor, workdir, servers)
    wait_until(
        lambda: mid_way(url, loop_id, "poll") and mid_way(url, cycle_id, "build"),
        timeout=30,
        what="both the loop and the cycle mid-way",
    )
    kill_hard(server)
    cut_loop = step(url, loop_id, "poll")
    cut_build = step(url, cycle_id, "build")
    server = serve(executor, workdir, servers)

    # The cycle goes round until the test makes the build green: a few more times.
    def rounds_after_the_kill() -> bool:
        history = step(url, cycle_id, "build").history or []
        return len(succeeded_iterations(history)) >= len(succeeded_iterations(cut_build.history)) + 2

    wait_until(rounds_after_the_kill, timeout=60, interval=0.1, what="the cycle to go on after the restart")
    (marks / "green").touch()

    def both_finished() -> bool:
        return all(r.status in ("succeeded", "failed") for r, _ in client.runs(url, [loop_id, cycle_id]))

    wait_until(both_finished, timeout=60, interval=0.1, what="both runs to finish")
    server.signal()
    assert server.wait_exit(30) == 0

    (loop_run, loop_rows), (cycle_run, cycle_rows) = client.runs(url, [loop_id, cycle_id])
    assert (loop_run.status, cycle_run.status) == ("succeeded", "succeeded"), (
        loop_run.error,
        cycle_run.error,
    )

    # The loop: iterations 0..7 each recorded once; the one cut went on under its number.
    poll = loop_rows[0]
    assert poll.output == {"index": 7}
    history = poll.history or []
    assert succeeded_iterations(history) == list(range(8))
    cut = int((cut_loop.state or {})["loop"].get("iteration", 0))
    lost = [e for e in history if e["outcome"] == "lost"]
    assert [int(e.get("iteration", 0)) for e in lost] == [cut], history
    ran = [int(line) for line in (marks / "poll").read_text().split()]
    assert sorted(set(ran)) == list(range(8)), "no iteration skipped"
    assert [n for n in range(8) if ran.count(n) > 1] in ([], [cut]), "only the cut one ran twice"

    # The cycle: build and check went round together, each round recorded once.
    rows = {row.step_id: row for row in cycle_rows}
    rounds = succeeded_iterations(rows["build"].history or [])
    assert rounds == list(range(len(rounds)))
    assert succeeded_iterations(rows["check"].history or []) == rounds
    assert rows["check"].state["loop"]["jumps"] == len(rounds) - 1
    cut_round = int((cut_build.state or {})["loop"].get("iteration", 0))
    lost_rounds = [int(e.get("iteration", 0)) for e in rows["build"].history or [] if e["outcome"] == "lost"]
    assert lost_rounds == [cut_round]
    # No attempt ran twice: the cut one is followed by a new attempt number. (It may have
    # been cut before its command started.)
    attempts = [int(line) for line in (marks / "build").read_text().split()]
    assert attempts == sorted(set(attempts))
    assert len(attempts) in (len(rounds), len(rounds) + 1), "each round once, and maybe the cut one"
