"""A mutex survives `kill -9` of the instance holding it: the lost attempt gives the key up,
the next in line runs, and the lost step runs again after it (real processes, SIGKILL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.acceptance.test_durability import kill_hard, serve
from tests.support import client
from tests.support.process import Server, run
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow  # starts a service twice and kills it once: seconds

FLOW = """
name: ledger_crash
inputs: {{type: object, properties: {{n: {{type: integer}}}}}}
steps:
  - id: post
    action: shell
    mutex: ledger
    with:
      command: >-
        echo start-$N >> {marks};
        if [ $N = 0 ] && [ ! -e {killed} ]; then sleep 60; fi;
        echo end-$N >> {marks}
      env: {{N: "{{{{ inputs.n }}}}"}}
"""


def test_the_next_waiter_runs_when_the_holder_of_a_mutex_is_killed(
    executor: list[str], workdir: Path, servers: list[Server]
) -> None:
    marks, killed = workdir / "marks", workdir / "killed"
    url = f"sqlite:///{workdir / 'executor.db'}"
    assert run(executor, "migrate", cwd=workdir).returncode == 0
    holder, waiter = client.submit(url, FLOW.format(marks=marks, killed=killed), [{"n": 0}, {"n": 1}])

    def post(run_id: str) -> tuple[str, dict[str, object]]:
        [(_, [row])] = client.runs(url, [run_id])
        return row.status, row.state or {}

    server = serve(executor, workdir, servers)
    wait_until(lambda: marks.exists() and marks.read_text() == "start-0\n", what="the holder to start")
    status, state = post(waiter)
    assert status == "waiting" and state["waiting_for"] == {"kind": "mutex", "key": "ledger", "limit": 1}
    kill_hard(server)
    killed.touch()
    server = serve(executor, workdir, servers)  # its lost lease is reaped at start

    def finished() -> bool:
        return all(r.status == "succeeded" for r, _ in client.runs(url, [holder, waiter]))

    wait_until(finished, timeout=30, what="both runs to succeed")
    # The waiter went first: the lost attempt gave the key up and queued again behind it.
    assert marks.read_text().split() == ["start-0", "start-1", "end-1", "start-0", "end-0"]
    [(_, [row])] = client.runs(url, [holder])
    assert [(h["outcome"], h.get("reason")) for h in row.history or []] == [
        ("lost", "lease expired"),
        ("succeeded", None),
    ]
    server.signal()
    assert server.wait_exit(30) == 0
