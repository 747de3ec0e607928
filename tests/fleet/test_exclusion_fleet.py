"""Mutual exclusion across three real instances on one PostgreSQL database: never more
holders of a key than its limit, for a step's mutex and for a workflow's concurrency key."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.fleet.test_fleet import Fleet, database, finished  # noqa: F401  (the fixture)
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

# Each critical section appends "start"/"end" lines under flock: the file's order is the
# order in which sections began and ended, whichever instance ran them.
MUTEX = """
name: post
inputs: {{type: object, properties: {{n: {{type: integer}}}}}}
steps:
  - id: post
    action: shell
    mutex: ledger
    with:
      command: >-
        flock {log} -c "echo start $N $EXECUTOR_INSTANCE_ID >> {log}"; sleep 0.1;
        flock {log} -c "echo end $N $EXECUTOR_INSTANCE_ID >> {log}"
      env: {{N: "{{{{ inputs.n }}}}"}}
"""

# Two steps per run: a run holds its key from its first step's start to its last's end.
BATCH = """
name: batch
inputs: {{type: object, properties: {{n: {{type: integer}}}}}}
concurrency: {{key: batch, limit: 2}}
steps:
  - id: begin
    action: shell
    with:
      command: 'flock {log} -c "echo start $N $EXECUTOR_INSTANCE_ID >> {log}"; sleep 0.1'
      env: {{N: "{{{{ inputs.n }}}}"}}
  - id: finish
    action: shell
    needs: [begin]
    with:
      command: 'sleep 0.1; flock {log} -c "echo end $N $EXECUTOR_INSTANCE_ID >> {log}"'
      env: {{N: "{{{{ inputs.n }}}}"}}
"""


def most_at_once(log: Path) -> int:
    inside, most = 0, 0
    for line in log.read_text().splitlines():
        inside += 1 if line.startswith("start") else -1
        most = max(most, inside)
    return most


async def submit_all(fleet: Fleet, workflow: str, count: int) -> None:
    urls = fleet.urls()
    async with httpx.AsyncClient(timeout=30) as client:
        for n in range(count):  # spread over the instances: each decides some admissions
            response = await client.post(
                f"{urls[n % len(urls)]}/runs", json={"workflow": workflow, "input": {"n": n}}
            )
            assert response.status_code == 201, response.text


def test_three_instances_never_let_more_than_the_limit_hold_a_key(database: str, tmp_path: Path) -> None:  # noqa: F811
    mutex_log, batch_log = tmp_path / "mutex.log", tmp_path / "batch.log"
    fleet = Fleet(database, tmp_path, 3)
    try:
        for flow in (MUTEX.format(log=mutex_log), BATCH.format(log=batch_log)):
            response = httpx.post(
                f"{fleet.urls()[0]}/workflows", content=flow, headers={"content-type": "application/yaml"}
            )
            assert response.status_code == 201, response.text

        async def both() -> None:
            await asyncio.gather(submit_all(fleet, "post", 24), submit_all(fleet, "batch", 12))

        asyncio.run(both())
        wait_until(lambda: finished(database) == (36, 36), timeout=120, interval=0.5, what="every run to end")
        statuses = {run["status"] for run in httpx.get(f"{fleet.urls()[0]}/runs?limit=100").json()["runs"]}
        assert statuses == {"succeeded"}
        assert len(mutex_log.read_text().splitlines()) == 48 and most_at_once(mutex_log) == 1
        assert len(batch_log.read_text().splitlines()) == 24 and most_at_once(batch_log) == 2
        # Holders released on one instance let in runs submitted (and steps run) on others.
        lines = mutex_log.read_text().splitlines() + batch_log.read_text().splitlines()
        instances = {line.split()[2] for line in lines}
        assert len(instances) >= 2, f"the keys passed between instances: {instances}"
    finally:
        fleet.stop()
