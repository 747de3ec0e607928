"""A fleet: several real instances on one PostgreSQL database, with chaos."""

from __future__ import annotations

import asyncio
import random
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from executor import migrate
from executor.store.url import DatabaseURL
from tests.support.checks import not_none
from tests.support.databases import postgres_database
from tests.support.process import CLI, Server, clean_env, pid_alive, run
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

FLOW = """
name: small_dag
inputs: {type: object, properties: {n: {type: integer}}}
steps:
  - {id: a, action: noop, with: {output: "{{ inputs.n }}"}}
  - id: b
    action: shell
    needs: [a]
    retry: {max_attempts: 5, delay: 100ms}
    with: {command: "echo $EXECUTOR_INSTANCE_ID"}
    outputs: {instance: "{{ result.stdout | trim }}"}
  - {id: c, action: noop, needs: [b], with: {output: "{{ steps.b.output.instance }}"}}
"""


class Fleet:
    def __init__(self, url: str, root: Path, size: int, *args: str) -> None:
        self.url = url
        self.root = root
        self.args = ["--poll-interval", "500ms", "--lease", "2s", "--skip-migrations", *args]
        self.servers: list[Server] = []
        for index in range(size):
            self.start(index)

    def start(self, index: int) -> Server:
        workdir = self.root / f"instance-{index}"
        workdir.mkdir(exist_ok=True)
        server = Server(CLI, workdir, self.args, clean_env(EXECUTOR_DATABASE_URL=self.url))
        server.start(new_session=True).wait_running()
        if index < len(self.servers):
            self.servers[index] = server
        else:
            self.servers.append(server)
        return server

    def urls(self) -> list[str]:
        return [s.url for s in self.servers if s.process is not None and s.process.poll() is None]

    def stop(self) -> None:
        for server in self.servers:
            if server.process is not None and server.process.poll() is None:
                server.signal()
                server.wait_exit(60)
            server.stop()


async def submit(fleet: Fleet, count: int) -> list[str]:
    """POST the runs to any live instance; on a refusal (draining, killed) try another."""
    semaphore = asyncio.Semaphore(20)

    async def one(n: int, client: httpx.AsyncClient) -> str:
        async with semaphore:
            for _ in range(50):
                url = random.choice(fleet.urls())
                try:
                    response = await client.post(
                        f"{url}/runs",
                        json={"workflow": "small_dag", "input": {"n": n}, "idempotency_key": f"run-{n}"},
                    )
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
                    continue
                if response.status_code in (200, 201):
                    return str(response.json()["id"])
                assert response.status_code == 503, response.text
                await asyncio.sleep(0.1)
            raise AssertionError(f"run {n} was never accepted")

    async with httpx.AsyncClient(timeout=30) as client:
        return await asyncio.gather(*(one(n, client) for n in range(count)))


def finished(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        done, total = not_none(
            conn.execute(
                "SELECT count(*) FILTER (WHERE status IN ('succeeded', 'failed', 'cancelled')), count(*) FROM runs"
            ).fetchone()
        )
    return done, total


def check_outcome(url: str, runs: int) -> Counter[str]:
    with psycopg.connect(url) as conn:
        statuses: dict[str, int] = dict(
            conn.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall()
        )
        errors = conn.execute(
            "SELECT step_id, status, attempt, error FROM steps WHERE status <> 'succeeded' LIMIT 5"
        ).fetchall()
        assert statuses == {"succeeded": runs}, (statuses, errors)
        per_step = conn.execute(
            "SELECT count(*), count(DISTINCT (run_id, step_id)) FROM steps WHERE status = 'succeeded'"
        ).fetchone()
        assert per_step == (runs * 3, runs * 3), "every step of every run recorded exactly once"
        instances = Counter(
            row[0]["instance"] for row in conn.execute("SELECT output FROM steps WHERE step_id = 'b'")
        )
    return instances


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    with postgres_database() as url:
        assert run(CLI, "migrate", "--database", url, cwd=tmp_path).returncode == 0
        migrate.check_schema(DatabaseURL.parse(url))
        yield url


def register(fleet: Fleet) -> None:
    response = httpx.post(
        f"{fleet.urls()[0]}/workflows", content=FLOW, headers={"content-type": "application/yaml"}
    )
    assert response.status_code in (200, 201), response.text


def test_three_instances_share_a_thousand_runs(database: str, tmp_path: Path) -> None:
    fleet = Fleet(database, tmp_path, 3)
    try:
        register(fleet)
        asyncio.run(submit(fleet, 1000))
        wait_until(
            lambda: finished(database) == (1000, 1000), timeout=300, interval=0.5, what="1,000 runs to finish"
        )
        instances = check_outcome(database, 1000)
        assert len(instances) == 3, f"work spread over all three instances: {instances}"
        with psycopg.connect(database) as conn:
            retried = not_none(conn.execute("SELECT count(*) FROM steps WHERE attempt > 1").fetchone())[0]
        assert retried == 0, "a healthy fleet never claims a step twice"
    finally:
        fleet.stop()


def test_the_fleet_survives_kills_a_drain_and_a_database_restart(database: str, tmp_path: Path) -> None:
    # Five blows in a few seconds (three kills, a drain, every connection cut) can each catch
    # the same attempt: under load, a step lost three times in a row met the poison-step
    # brake (tested on its own, tests/engine/test_leases.py) and failed its run. The brake is
    # not what this test is about.
    fleet = Fleet(database, tmp_path, 3, "--max-lost-attempts", "10")
    try:
        register(fleet)

        async def load_with_chaos() -> None:
            submitting = asyncio.create_task(submit(fleet, 600))
            # kill -9 a random instance every second or so, and start it again
            for _ in range(3):
                await asyncio.sleep(1.0)
                victim = random.randrange(3)
                server = fleet.servers[victim]
                assert server.process is not None
                server.process.send_signal(signal.SIGKILL)
                server.wait_exit(10)
                await asyncio.to_thread(fleet.start, victim)
            # drain one (SIGTERM) while the others go on, then bring it back
            drained = fleet.servers[0]
            drained.signal(signal.SIGTERM)
            assert await asyncio.to_thread(drained.wait_exit, 60) == 0
            await asyncio.to_thread(fleet.start, 0)
            # cut every connection to the database in the middle of the load
            with psycopg.connect(database.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
                name = database.rsplit("/", 1)[1]
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                )
            await submitting

        asyncio.run(load_with_chaos())
        wait_until(
            lambda: finished(database) == (600, 600), timeout=300, interval=0.5, what="every run to finish"
        )
        check_outcome(database, 600)
        # An instance that saw its connections cut says so on /health/ready until its next
        # check of the database finds it back: every one must recover by itself, soon.
        wait_until(
            lambda: all(httpx.get(f"{url}/health/ready").status_code == 200 for url in fleet.urls()),
            timeout=10,
            what="every instance to recover by itself",
        )

        def logged(text: str) -> bool:
            return any(text in line.get("message", "") for s in fleet.servers for line in s.log_lines())

        assert logged("lost the work notification connection")
        wait_until(
            lambda: logged("listening for work notifications again"),
            what="the listener to reconnect and say so",
        )
    finally:
        fleet.stop()


CROSS = """
name: cross
steps:
  - {id: approve, action: wait, with: {signal: go}}
  - {id: nap, action: sleep, needs: [approve], with: {duration: 1s}}
  - id: after
    action: shell
    needs: [nap]
    with: {command: "echo $EXECUTOR_INSTANCE_ID"}
    outputs: {instance: "{{ result.stdout | trim }}"}
"""


def test_signals_and_timers_work_across_instances(database: str, tmp_path: Path) -> None:
    fleet = Fleet(database, tmp_path, 2)
    try:
        first, second = fleet.servers
        assert (
            httpx.post(
                f"{first.url}/workflows", content=CROSS, headers={"content-type": "application/yaml"}
            ).status_code
            == 201
        )
        run_id = httpx.post(f"{first.url}/runs", json={"workflow": "cross"}).json()["id"]

        def step(name: str) -> dict[str, Any]:
            return next(
                s for s in httpx.get(f"{second.url}/runs/{run_id}").json()["steps"] if s["id"] == name
            )

        wait_until(lambda: step("approve")["status"] == "waiting", what="the wait")
        # The signal goes to the other instance than the one that took the run.
        assert httpx.post(f"{second.url}/runs/{run_id}/signals/go", json={"payload": 1}).json()["delivered"]
        wait_until(lambda: step("nap")["status"] == "waiting", what="the sleep")
        # The instance that might hold the sleep's timer dies: the timer is a row, not a sleep.
        assert first.process is not None
        first.process.send_signal(signal.SIGKILL)
        first.wait_exit(10)
        wait_until(
            lambda: step("after")["status"] == "succeeded", timeout=30, what="the survivor to finish the run"
        )
        run_record = httpx.get(f"{second.url}/runs/{run_id}").json()
        assert run_record["status"] == "succeeded"
        assert step("approve")["output"] == 1
    finally:
        fleet.stop()


def test_a_cancel_sent_to_one_instance_stops_the_step_running_on_another(
    database: str, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    flow = f"name: long\nsteps:\n  - {{id: slow, action: shell, with: {{command: 'echo $$ > {pids}/$EXECUTOR_INSTANCE_ID; sleep 60'}}}}\n"
    fleet = Fleet(database, tmp_path, 2)
    try:
        assert (
            httpx.post(
                f"{fleet.servers[0].url}/workflows",
                content=flow,
                headers={"content-type": "application/yaml"},
            ).status_code
            == 201
        )
        run_id = httpx.post(f"{fleet.servers[0].url}/runs", json={"workflow": "long"}).json()["id"]
        wait_until(lambda: len(list(pids.iterdir())) == 1, what="the step to start on some instance")
        [marker] = list(pids.iterdir())
        shell = int(marker.read_text())
        runner = next(s for s in fleet.servers if _instance_id(s) == marker.name)
        other = next(s for s in fleet.servers if s is not runner)
        assert httpx.post(f"{other.url}/runs/{run_id}/cancel").status_code == 202
        assert httpx.get(f"{runner.url}/runs/{run_id}").json()["status"] == "cancelled"
        # The running instance learns at its next lease renewal (every third of --lease).
        wait_until(lambda: not pid_alive(shell), timeout=20, what="the cancelled command to be killed")
    finally:
        fleet.stop()


def _instance_id(server: Server) -> str:
    instance: str = next(
        line["instance"] for line in server.log_lines() if "running on" in line.get("message", "")
    )
    return instance


def test_a_killed_instance_is_noticed_by_its_heartbeat_long_before_its_lease_runs_out(
    database: str, tmp_path: Path
) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    flow = (
        "name: hb\nsteps:\n  - {id: slow, action: shell, "
        f"with: {{command: 'touch {markers}/$EXECUTOR_INSTANCE_ID; sleep 2'}}}}\n"
    )
    # A lease of a minute: only the heartbeat can explain a step that runs again sooner.
    fleet = Fleet(database, tmp_path, 2, "--lease", "60s", "--heartbeat-timeout", "2s")
    try:
        first = fleet.servers[0]
        response = httpx.post(
            f"{first.url}/workflows", content=flow, headers={"content-type": "application/yaml"}
        )
        assert response.status_code == 201
        run_id = httpx.post(f"{first.url}/runs", json={"workflow": "hb"}).json()["id"]
        wait_until(lambda: len(list(markers.iterdir())) == 1, what="the step to start on some instance")
        [marker] = list(markers.iterdir())
        victim = next(s for s in fleet.servers if _instance_id(s) == marker.name)
        survivor = next(s for s in fleet.servers if s is not victim)
        assert victim.process is not None
        victim.process.send_signal(signal.SIGKILL)
        victim.wait_exit(10)

        def run() -> dict[str, Any]:
            answer: dict[str, Any] = httpx.get(f"{survivor.url}/runs/{run_id}").json()
            return answer

        wait_until(
            lambda: run()["status"] == "succeeded", timeout=30, what="the survivor to run the step again"
        )
        [step] = run()["steps"]
        lost, succeeded = step["history"]
        assert (lost["outcome"], lost["instance"], lost["reason"]) == ("lost", marker.name, "lease expired")
        assert (succeeded["outcome"], succeeded["instance"]) == ("succeeded", _instance_id(survivor))
        assert step["attempts"] == 2
        assert any("missed its heartbeats" in line.get("message", "") for line in survivor.log_lines())
    finally:
        fleet.stop()
