"""When the database goes away: HTTP stays up, readiness says so, nothing is lost, and
everything resumes by itself when it is back."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.databases import postgres_database
from tests.support.process import CLI, Server, clean_env, run
from tests.support.proxy import Proxy
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

FLOW = "name: tiny\nsteps:\n  - {id: a, action: noop, with: {output: done}}\n  - {id: b, action: noop, needs: [a]}\n"


def test_an_instance_rides_out_a_database_outage(tmp_path: Path) -> None:
    with postgres_database() as url:
        assert run(CLI, "migrate", "--database", url, cwd=tmp_path).returncode == 0
        name = url.rsplit("/", 1)[1]
        with Proxy("127.0.0.1", 5432) as proxy:
            proxied = f"postgresql://postgres@127.0.0.1:{proxy.port}/{name}?connect_timeout=2"
            server = Server(CLI, tmp_path, ["--skip-migrations", "--lease", "3s", "--poll-interval", "200ms"],
                            clean_env(EXECUTOR_DATABASE_URL=proxied))  # fmt: skip
            server.start().wait_running()
            try:
                client = httpx.Client(base_url=server.url, timeout=30)
                assert (
                    client.post(
                        "/workflows", content=FLOW, headers={"content-type": "application/yaml"}
                    ).status_code
                    == 201
                )
                assert client.get("/health/ready").status_code == 200

                proxy.cut()
                ready = wait_until(lambda: _unready(client), timeout=30, what="ready to report the database")
                assert ready.json() == {"state": "running", "database": "unreachable"}
                assert client.get("/health/live").status_code == 200, "HTTP stays up"
                refused = client.post("/runs", json={"workflow": "tiny"})
                assert (
                    refused.status_code == 503 and refused.json()["error"]["code"] == "database_unavailable"
                )

                proxy.restore()
                wait_until(
                    lambda: client.get("/health/ready").status_code == 200, timeout=30, what="ready again"
                )
                run_id = client.post("/runs", json={"workflow": "tiny"}).json()["id"]
                wait_until(lambda: client.get(f"/runs/{run_id}").json()["status"] == "succeeded", timeout=30,
                           what="claims to resume")  # fmt: skip
                messages = [line.get("message", "") for line in server.log_lines()]
                assert any("does not answer" in m for m in messages)
                assert any("answers again" in m for m in messages)
                client.close()
            finally:
                server.signal()
                server.wait_exit(60)
                server.stop()


def _unready(client: httpx.Client) -> httpx.Response | None:
    response = client.get("/health/ready")
    return response if response.status_code == 503 else None
