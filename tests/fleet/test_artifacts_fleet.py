"""Artifacts across a fleet on one PostgreSQL database, kept in the database or in a
directory every instance mounts: a step on one instance leaves them, that instance stops,
and another one both hands them to a later step of the run (``artifacts_from``) and serves
their download."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fleet.test_fleet import Fleet, database  # noqa: F401  (the fixture)
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

FLOW = """
name: handoff
steps:
  - id: make
    action: shell
    with:
      command: |
        head -c 5M /dev/urandom > "$EXECUTOR_ARTIFACTS_DIR/data.bin"
        cd "$EXECUTOR_ARTIFACTS_DIR" && sha256sum data.bin > data.sha256
        echo "$EXECUTOR_INSTANCE_ID"
    outputs: {instance: "{{ result.stdout | trim }}"}
  - id: hold
    action: wait
    needs: [make]
    with: {signal: go}
  - id: check
    action: shell
    needs: [make, hold]
    with:
      artifacts_from: [make]
      command: sha256sum --quiet -c data.sha256 && echo "$EXECUTOR_INSTANCE_ID"
    outputs: {instance: "{{ result.stdout | trim }}"}
"""


def step(run: dict[str, Any], step_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in run["steps"] if s["id"] == step_id)
    return found


@pytest.mark.parametrize("storage", ["database", "directory"])
def test_one_instance_produces_and_another_serves(database: str, tmp_path: Path, storage: str) -> None:  # noqa: F811
    shared = tmp_path / "shared"
    shared.mkdir()
    fleet = Fleet(
        database, tmp_path, 1, *(["--artifacts-dir", str(shared)] if storage == "directory" else [])
    )
    try:
        first = fleet.urls()[0]
        answer = httpx.post(f"{first}/workflows", content=FLOW, headers={"content-type": "application/yaml"})
        assert answer.status_code == 201, answer.text
        run_id = httpx.post(f"{first}/runs", json={"workflow": "handoff"}).json()["id"]

        def at(url: str, status: str, of: str | None = None) -> dict[str, Any] | None:
            run: dict[str, Any] = httpx.get(f"{url}/runs/{run_id}").json()
            return run if (step(run, of) if of else run)["status"] == status else None

        made = wait_until(
            lambda: at(first, "waiting", "hold"), 30, what="the first instance to make the artifacts"
        )
        maker = step(made, "make")["output"]["instance"]

        # A second instance comes; the first goes, and with it anything it kept in memory.
        second = fleet.start(1).url
        fleet.servers[0].signal()
        assert fleet.servers[0].wait_exit(60) == 0
        assert fleet.urls() == [second]

        delivered = httpx.post(f"{second}/runs/{run_id}/signals/go").json()["delivered"]
        assert delivered
        done = wait_until(lambda: at(second, "succeeded"), 30, what="the second instance to check them")
        checker = step(done, "check")["output"]["instance"]
        assert maker and checker and maker != checker, "made on one instance, taken on the other"

        listed = httpx.get(f"{second}/runs/{run_id}/artifacts").json()["artifacts"]
        assert [(a["step"], a["name"]) for a in listed] == [("make", "data.bin"), ("make", "data.sha256")]
        sums = httpx.get(f"{second}/runs/{run_id}/artifacts/make/data.sha256")
        expected = sums.text.split()[0]
        data = httpx.get(f"{second}/runs/{run_id}/artifacts/make/data.bin", timeout=30)
        assert data.status_code == 200 and len(data.content) == 5 << 20
        assert hashlib.sha256(data.content).hexdigest() == expected == listed[0]["sha256"]
        tail = httpx.get(f"{second}/runs/{run_id}/artifacts/make/data.bin", headers={"Range": "bytes=-1000"})
        assert tail.status_code == 206 and tail.content == data.content[-1000:]
        kept = sorted(p.name for p in shared.rglob("*") if p.is_file())
        assert len(kept) == (2 if storage == "directory" else 0), kept
    finally:
        fleet.stop()
