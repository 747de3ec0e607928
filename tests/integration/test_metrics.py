"""`GET /metrics`: the real service on each backend, real runs, the exposition parsed by
prometheus-client's own parser. The registry is the process's: each test compares what it
reads after its runs with what it read before them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from executor import __version__, metrics
from executor.engine import Engine
from executor.engine.events import AttemptEvent, Event
from executor.service import Service
from executor.store import Store, create_store
from executor.store.url import DatabaseURL
from tests.api.conftest import start_service, stop_service
from tests.support.databases import POOL_SIZE
from tests.support.engine import running_engine
from tests.support.scrape import Scrape
from tests.support.waiting import async_wait_until

TOKEN = "metrics-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

FLOW = """
name: metered
steps:
  - id: hello
    action: shell
    with: {command: "echo hi"}
  - id: flaky
    action: shell
    needs: [hello]
    retry: {max_attempts: 2, delay: 10ms}
    with: {command: "test $EXECUTOR_ATTEMPT -gt 1"}
  - id: done
    action: noop
    needs: [flaky]
"""

FAILING = """
name: doomed
steps:
  - id: boom
    action: shell
    with: {command: "exit 3"}
"""

# Three independent steps on an instance that runs one at a time: two wait, ready.
PARALLEL = """
name: crowded
steps:
  - id: a
    action: shell
    with: {command: "sleep 30"}
  - id: b
    action: shell
    with: {command: "sleep 30"}
  - id: c
    action: shell
    with: {command: "sleep 30"}
"""


@pytest.fixture
async def secured(database_url: str) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    service, task = await start_service(database_url, api_token=TOKEN, concurrency="1")
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}", headers=AUTH, timeout=30)
    try:
        yield service, client
    finally:
        await client.aclose()
        await stop_service(service, task)


async def scrape(client: httpx.AsyncClient) -> Scrape:
    answer = await client.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return Scrape.parse(answer.text)


async def run_to_end(client: httpx.AsyncClient, workflow: str, **extra: Any) -> dict[str, Any]:
    created = await client.post("/runs", json={"workflow": workflow}, **extra)
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]

    async def final() -> dict[str, Any] | None:
        run: dict[str, Any] = (await client.get(f"/runs/{run_id}")).json()
        return run if run["status"] in ("succeeded", "failed", "cancelled") else None

    return await async_wait_until(final, timeout=30, what=f"run {run_id} to end")


async def test_metrics_need_the_token_when_one_is_set(
    secured: tuple[Service, httpx.AsyncClient],
) -> None:
    service, client = secured
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}") as anonymous:
        refused = await anonymous.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == 'Bearer realm="executor"'
        assert (await anonymous.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
        assert (await anonymous.get("/health")).status_code == 200  # the one exemption
    after = await scrape(client)
    assert after.has("executor_build_info", version=__version__)
    # The refusals are counted too, under the route, not the raw path.
    assert after.value("executor_http_requests_total", route="/metrics", method="GET", status="4xx") >= 2


async def test_metrics_answer_without_a_token_when_none_is_set(database_url: str) -> None:
    service, task = await start_service(database_url)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}") as client:
            answer = await client.get("/metrics")
            assert answer.status_code == 200
            # OpenMetrics for a scraper that asks for it.
            open_metrics = await client.get(
                "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
            )
            assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
            assert open_metrics.text.endswith("# EOF\n")
    finally:
        await stop_service(service, task)


async def test_runs_attempts_and_requests_are_counted(secured: tuple[Service, httpx.AsyncClient]) -> None:
    _, client = secured
    for flow in (FLOW, FAILING):
        registered = await client.post(
            "/workflows", content=flow, headers={"Content-Type": "application/yaml"}
        )
        assert registered.status_code in (200, 201), registered.text
    before = await scrape(client)

    runs = [await run_to_end(client, "metered") for _ in range(2)]
    assert [run["status"] for run in runs] == ["succeeded", "succeeded"]
    doomed = await run_to_end(client, "doomed")
    assert doomed["status"] == "failed"
    for run in (*runs, doomed):
        await client.get(f"/runs/{run['id']}")
    await client.get("/runs/not-a-run-id")  # 404, same route label

    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert delta("executor_runs_started_total", workflow="metered", trigger="api") == 2
    assert delta("executor_runs_started_total", workflow="doomed", trigger="api") == 1
    assert delta("executor_runs_finished_total", workflow="metered", status="succeeded") == 2
    assert delta("executor_runs_finished_total", workflow="doomed", status="failed") == 1
    assert delta("executor_run_duration_seconds_count", workflow="metered") == 2
    assert delta("executor_run_duration_seconds_sum", workflow="metered") > 0
    # Per metered run: hello, flaky's failed first attempt and its second; doomed's one.
    assert delta("executor_step_attempts_total", action="shell", outcome="succeeded") == 4
    assert delta("executor_step_attempts_total", action="shell", outcome="failed") == 3
    assert delta("executor_step_attempts_total", action="noop", outcome="succeeded") == 2
    assert delta("executor_step_duration_seconds_count", action="shell") == 7
    assert delta("executor_step_duration_seconds_count", action="noop") == 2
    # Claimed attempts only: the noops ran in process, inside the change that made them ready.
    assert delta("executor_step_queue_wait_seconds_count") == 7
    assert after.value("executor_steps_in_flight") == 0

    # HTTP: route templates, never the raw path with a run id in it.
    routes = after.label_values("executor_http_requests_total", "route")
    assert "/runs/{id}" in routes and "/runs" in routes
    assert not any(run["id"] in route for run in runs for route in routes)
    assert delta("executor_http_requests_total", route="/runs", method="POST", status="2xx") == 3
    assert delta("executor_http_requests_total", route="/runs/{id}", method="GET", status="4xx") == 1
    assert delta("executor_http_request_duration_seconds_count", route="/runs", method="POST") == 3
    # No label anywhere carries a run id.
    run_ids = {run["id"] for run in (*runs, doomed)}
    assert not any(set(sample.labels.values()) & run_ids for sample in after.samples)


async def test_database_gauges_and_in_flight_follow_the_queue(
    secured: tuple[Service, httpx.AsyncClient],
) -> None:
    service, client = secured  # --concurrency 1
    await client.post("/workflows", content=PARALLEL, headers={"Content-Type": "application/yaml"})
    run_id = (await client.post("/runs", json={"workflow": "crowded"})).json()["id"]

    async def one_running_two_ready() -> Scrape | None:
        now = await scrape(client)
        wanted = (
            now.value("executor_steps_ready") == 2
            and now.value("executor_steps_running") == 1
            and now.value("executor_steps_in_flight") == 1
        )
        return now if wanted else None

    now = await async_wait_until(one_running_two_ready, timeout=20, what="1 step running, 2 ready")
    for name in ("executor_steps_ready", "executor_steps_running"):
        assert now.types[name] == "gauge"
        assert "max()" in now.help[name], "a fleet must take max() of a gauge read from the database"
    assert (await client.post(f"/runs/{run_id}/cancel")).status_code == 202

    async def drained() -> bool:
        now = await scrape(client)
        return now.value("executor_steps_ready") == 0 and now.value("executor_steps_in_flight") == 0

    await async_wait_until(drained, timeout=20, what="the cancelled run's steps to leave")
    assert service.engine is not None


async def test_a_lost_lease_is_counted(database_url: str) -> None:
    flow = """
name: stolen
steps:
  - id: long
    action: shell
    with: {command: "sleep 30"}
"""
    database = DatabaseURL.parse(database_url)
    store: Store = create_store(database, pool_size=POOL_SIZE)
    lost_before = registry().value("executor_leases_lost_total")
    async with store, running_engine(database_url, lease=2.0) as live:
        heard: list[Event] = []
        live.engine.listeners.append(heard.append)
        run_id = await live.submit(flow)
        await live.wait_step(run_id, "long", "running")
        # Its instance is taken for dead: its leases expire now, and a peer reaps them (the
        # step is queued again). The first attempt's lease is lost: renewal finds it gone, or
        # its outcome is rejected. Renewal may win a round before the reap (a lease renewed
        # in time is kept): then again.
        peer = Engine(store, instance_id="peer", concurrency=1, poll_interval=1.0, lease=2.0, secrets={})

        async def stolen() -> bool:
            _, rows = await live.engine.get(run_id)
            if rows[0].attempt > 1:
                return True
            await store.release_instance(live.engine.instance_id)
            await peer.leases.reap()
            return False

        await async_wait_until(stolen, timeout=20, interval=0.1, what="the step to be reclaimed")
        ended = await async_wait_until(
            lambda: [e for e in heard if isinstance(e, AttemptEvent) and e.attempt == 1],
            what="the first attempt to end",
        )
        assert [(e.action, e.outcome) for e in ended] == [("shell", "lost")]
        await live.engine.cancel(run_id)
    assert registry().value("executor_leases_lost_total") >= lost_before + 1


def registry() -> Scrape:
    """This process's registry, as `/metrics` exposes it."""
    text, _ = metrics.exposition(None)
    return Scrape.parse(text.decode())
