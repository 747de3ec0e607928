"""Durability with real processes: SIGKILL in the middle of steps and sleeps, SIGTERM drains."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.support import client
from tests.support.process import Server, clean_env, pid_alive, run
from tests.support.waiting import wait_until

# Each test kills or drains a service and starts it again, several times: seconds apiece.
pytestmark = pytest.mark.slow

FLOW = """
name: crashy
inputs: {{type: object, properties: {{n: {{type: integer}}}}}}
steps:
  - id: work
    action: shell
    retry: {{max_attempts: 3, delay: 100ms}}
    with: {{command: "sleep 0.4; echo {{{{ inputs.n }}}} >> {marks}/work-{{{{ inputs.n }}}}"}}
  - {{id: nap, action: sleep, needs: [work], with: {{duration: 1s}}}}
  - id: last
    action: shell
    needs: [nap]
    retry: {{max_attempts: 3, delay: 100ms}}
    with: {{command: "echo {{{{ inputs.n }}}} >> {marks}/last-{{{{ inputs.n }}}}"}}
"""


def serve(executor: list[str], workdir: Path, servers: list[Server]) -> Server:
    server = Server(
        executor, workdir, ["--poll-interval", "100ms", "--lease", "3s", "--concurrency", "4", "--skip-migrations"],
        clean_env(),
    )  # fmt: skip
    # Its own process group: SIGKILL reaches the binary's bootloader and the process it runs.
    servers.append(server)
    return server.start(new_session=True).wait_running()


def crash_site(executor: list[str], workdir: Path) -> tuple[Path, str]:
    """A migrated SQLite database in ``workdir`` and a folder where steps leave marks."""
    marks = workdir / "marks"
    marks.mkdir()
    assert run(executor, "migrate", cwd=workdir).returncode == 0
    return marks, f"sqlite:///{workdir / 'executor.db'}"


def kill_hard(server: Server) -> None:
    assert server.process is not None
    os.killpg(server.process.pid, signal.SIGKILL)
    server.wait_exit(10)


def test_runs_survive_sigkill_during_steps_and_sleeps(
    executor: list[str], workdir: Path, servers: list[Server]
) -> None:
    marks, url = crash_site(executor, workdir)
    run_ids = client.submit(url, FLOW.format(marks=marks), [{"n": n} for n in range(12)])

    server = serve(executor, workdir, servers)
    # Kill once while `work` steps run, then once while `nap` sleeps.
    wait_until(lambda: _any_step(url, run_ids, "work", "running"), what="a running step")
    kill_hard(server)
    done_before = _succeeded(url, run_ids)
    server = serve(executor, workdir, servers)
    wait_until(lambda: _any_step(url, run_ids, "nap", "waiting"), what="a sleeping step")
    kill_hard(server)
    done_before |= _succeeded(url, run_ids)
    server = serve(executor, workdir, servers)

    def all_finished() -> bool:
        return all(r.status in ("succeeded", "failed", "cancelled") for r, _ in client.runs(url, run_ids))

    wait_until(all_finished, timeout=90, interval=0.2, what="every run to finish after the restarts")
    server.signal()
    assert server.wait_exit(30) == 0
    for run_record, rows in client.runs(url, run_ids):
        assert run_record.status == "succeeded", (
            run_record.error,
            [(r.step_id, r.status, r.error) for r in rows],
        )
        assert sorted(r.step_id for r in rows) == ["last", "nap", "work"], (
            "one row per step: one recorded completion"
        )
        assert all(r.status == "succeeded" for r in rows)
    # A completion committed before a kill is never redone: same attempt, same record.
    assert done_before, "the kills came after some steps had finished"
    assert done_before <= _succeeded(url, run_ids)
    # Every step ran at least once (an attempt cut by a kill may have run twice).
    for n in range(12):
        assert (marks / f"work-{n}").read_text().count(f"{n}\n") >= 1
        assert (marks / f"last-{n}").read_text().count(f"{n}\n") >= 1


def test_sigterm_finishes_what_fits_in_the_stop_timeout_and_hands_back_the_rest(
    executor: list[str], workdir: Path, servers: list[Server]
) -> None:
    flag, pids = workdir / "flag", workdir / "pids"
    pids.mkdir()
    url = f"sqlite:///{workdir / 'executor.db'}"
    assert run(executor, "migrate", cwd=workdir).returncode == 0
    flow = f"""
name: drainy
inputs: {{type: object, properties: {{slow: {{type: boolean}}, n: {{type: integer}}}}}}
steps:
  - id: step
    action: shell
    with:
      command: "echo $$ > {pids}/{{{{ inputs.n }}}}; if [ {{{{ inputs.slow }}}} = True ] && [ ! -e {flag} ]; then sleep 60; else sleep 0.5; fi"
"""
    quick = client.submit(url, flow, [{"slow": False, "n": n} for n in range(2)])
    slow = client.submit(url, flow, [{"slow": True, "n": n} for n in range(2, 4)])
    server = Server(
        executor,
        workdir,
        ["--poll-interval", "100ms", "--stop-timeout", "2s", "--skip-migrations"],
        clean_env(),
    )
    servers.append(server)
    server.start(new_session=True).wait_running()
    wait_until(lambda: len(list(pids.iterdir())) == 4, what="all four steps to start")
    server.signal(signal.SIGTERM)
    assert server.wait_exit(30) == 0
    for record, rows in client.runs(url, quick):
        assert (record.status, rows[0].status, rows[0].attempt) == ("succeeded", "succeeded", 1)
    for record, rows in client.runs(url, slow):
        assert (rows[0].status, rows[0].attempt) == ("queued", 1), "handed back"
        assert [(h["outcome"], h["reason"]) for h in rows[0].history or []] == [("lost", "drain")]
        assert record.status == "running"
    for n in (2, 3):
        shell = int((pids / str(n)).read_text())

        def killed(pid: int = shell) -> bool:
            return not pid_alive(pid)

        wait_until(killed, what="the cancelled command to be killed")
    flag.touch()
    servers.append(
        server := Server(executor, workdir, ["--poll-interval", "100ms", "--skip-migrations"], clean_env())
    )
    server.start(new_session=True).wait_running()
    wait_until(
        lambda: all(r.status == "succeeded" for r, _ in client.runs(url, slow)),
        what="the next start to run them",
    )
    # Attempt 2, the lost one not counted against the step's single attempt.
    assert all(rows[0].attempt == 2 for _, rows in client.runs(url, slow))
    server.signal()
    assert server.wait_exit(30) == 0


def _any_step(url: str, run_ids: list[str], step_id: str, status: str) -> bool:
    return any(
        r.step_id == step_id and r.status == status for _, rows in client.runs(url, run_ids) for r in rows
    )


def _succeeded(url: str, run_ids: list[str]) -> set[tuple[str, str, int, float | None]]:
    return {
        (r.run_id, r.step_id, r.attempt, r.finished_at)
        for _, rows in client.runs(url, run_ids)
        for r in rows
        if r.status == "succeeded"
    }
