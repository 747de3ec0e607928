"""Partial joins and early-ending for_each steps across a SIGKILL: the counts they decide
on are in the step rows, so a restarted service finishes them where they were."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest

from tests.support import client
from tests.support.process import Server, clean_env, pid_alive, run
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

FLOW = """
name: quorum_crash
steps:
  - id: vote
    action: shell
    for_each: {{matrix: {{n: [1, 2, 3, 4]}}, min_success: 2}}
    with:
      command: 'echo $$ >> {pids}; if [ "$N" -le 2 ]; then sleep 1; echo "$N"; else exec sleep 120; fi'
      env: {{N: "{{{{ item.n }}}}"}}
    outputs: {{n: "{{{{ result.json }}}}"}}
  - {{id: slow, action: shell, with: {{command: "echo $$ >> {pids}; exec sleep 120"}}}}
  - id: tally
    action: noop
    needs: [vote, slow]
    trigger_rule: {{min_success: 1}}
    cancel_remaining: true
    with: {{output: "{{{{ steps.vote.output }}}}"}}
"""


def test_a_quorum_and_a_cancelling_join_finish_after_sigkill(
    executor: list[str], workdir: Path, servers: list[Server]
) -> None:
    pids = workdir / "pids"
    url = f"sqlite:///{workdir / 'executor.db'}"
    assert run(executor, "migrate", cwd=workdir).returncode == 0
    (run_id,) = client.submit(url, FLOW.format(pids=pids), [None])
    try:
        server = _serve(executor, workdir, servers)
        wait_until(lambda: pids.exists() and len(pids.read_text().split()) == 5, what="every command running")
        assert server.process is not None
        os.killpg(server.process.pid, signal.SIGKILL)
        server.wait_exit(10)
        server = _serve(executor, workdir, servers)
        wait_until(
            lambda: client.runs(url, [run_id])[0][0].status in ("succeeded", "failed", "cancelled"),
            timeout=60,
            what="the run to finish after the restart",
        )
        server.signal()
        assert server.wait_exit(30) == 0
        record, rows = client.runs(url, [run_id])[0]
        by_name = {r.step_id if r.item_index < 0 else f"{r.step_id}[{r.item_index}]": r for r in rows}
        assert record.status == "succeeded", (record.error, [(r.step_id, r.status, r.error) for r in rows])
        assert by_name["vote"].output == [{"n": 1}, {"n": 2}, None, None]
        assert [by_name[f"vote[{i}]"].status for i in range(4)] == [
            "succeeded",
            "succeeded",
            "cancelled",
            "cancelled",
        ]
        assert (by_name["slow"].status, by_name["slow"].error) == (
            "cancelled",
            "cancelled by step tally (cancel_remaining)",
        )
        assert by_name["tally"].output == [{"n": 1}, {"n": 2}, None, None]
        for pid in map(int, pids.read_text().split()[5:]):  # started after the restart

            def stopped(pid: int = pid) -> bool:
                return not pid_alive(pid)

            wait_until(stopped, what=f"command {pid} to be stopped")
    finally:
        # The commands the SIGKILL orphaned live in their own process groups.
        for pid in map(int, pids.read_text().split() if pids.exists() else []):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert not any(pid_alive(int(pid)) for pid in pids.read_text().split()[5:]), (
        "cancelled commands were stopped"
    )


def _serve(executor: list[str], workdir: Path, servers: list[Server]) -> Server:
    server = Server(
        executor, workdir, ["--poll-interval", "100ms", "--lease", "3s", "--skip-migrations"], clean_env()
    )
    servers.append(server)
    return server.start(new_session=True).wait_running()
