"""`finally` steps survive SIGKILL of the service while they run: after a restart the run,
still `running` with the ending it is about to have, goes on with them and ends with that
ending."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.acceptance.test_durability import crash_site, kill_hard, serve
from tests.support import client
from tests.support.process import Server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow  # a kill, then a lease (3s) to run out

FLOW = """
name: crash_finally
steps:
  - {{id: main, action: shell, with: {{command: "exit 3"}}}}
finally:
  - id: cleanup
    action: shell
    with:
      command: 'echo "$STATUS" >> {marks}/cleanup; sleep 1'
      env: {{STATUS: "{{{{ run.status }}}}"}}
  - {{id: report, action: noop, needs: [cleanup], with: {{output: "{{{{ run.status }}}}: {{{{ run.error }}}}"}}}}
"""


def test_finally_steps_go_on_after_sigkill_and_the_run_keeps_its_ending(
    executor: list[str], workdir: Path, servers: list[Server]
) -> None:
    marks, url = crash_site(executor, workdir)
    (run_id,) = client.submit(url, FLOW.format(marks=marks), [{}])

    def cleanup_running() -> bool:
        # Its command has written its line (a claimed step's command starts a moment later:
        # killing before then would leave no first line to compare with).
        return (marks / "cleanup").exists() and (marks / "cleanup").read_text() == "failed\n"

    server = serve(executor, workdir, servers)
    wait_until(cleanup_running, timeout=30, what="the finally step's command running")
    kill_hard(server)
    ((cut, _),) = client.runs(url, [run_id])
    assert cut.status == "running" and cut.error == "step main failed: command failed (exit code 3)"

    server = serve(executor, workdir, servers)

    def finished() -> bool:
        ((record, _),) = client.runs(url, [run_id])
        return record.status in ("succeeded", "failed", "cancelled")

    wait_until(finished, timeout=60, interval=0.1, what="the run to finish")
    server.signal()
    assert server.wait_exit(30) == 0

    ((record, rows),) = client.runs(url, [run_id])
    steps = {row.step_id: row for row in rows}
    assert (record.status, record.error) == ("failed", "step main failed: command failed (exit code 3)")
    assert steps["cleanup"].status == "succeeded"
    assert [entry["outcome"] for entry in steps["cleanup"].history or []] == ["lost", "succeeded"]
    assert (marks / "cleanup").read_text() == "failed\nfailed\n", "the cut attempt ran again, same ending"
    assert steps["report"].output == "failed: step main failed: command failed (exit code 3)"
