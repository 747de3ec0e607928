"""What of the service's environment a command sees: ``--pass-env`` names the ``EXECUTOR_*``
variables that reach it; no other does."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from executor.actions import shell
from tests.support.engine import Harness


@pytest.fixture
def passing() -> Iterator[None]:
    shell.prepare(pass_env=("EXECUTOR_REGION", "EXECUTOR_UNSET"))
    yield
    shell.prepare(pass_env=())


@pytest.mark.usefixtures("passing")
async def test_pass_env_lets_the_named_executor_variables_through(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXECUTOR_REGION", "eu-west")
    monkeypatch.setenv("EXECUTOR_API_TOKEN", "the-token")
    monkeypatch.setenv("EXECUTOR_SECRET_X", "the-secret")
    flow = json.dumps(
        {"name": "env", "steps": [{"id": "s", "action": "shell", "with": {"command": "env"}}]}, indent=1
    )
    run_id = await harness.submit(flow)
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    seen = dict(line.split("=", 1) for line in steps["s"].output["stdout"].splitlines() if "=" in line)
    assert seen["EXECUTOR_REGION"] == "eu-west"
    assert "EXECUTOR_UNSET" not in seen, "a named variable the service does not have stays unset"
    assert not {"EXECUTOR_API_TOKEN", "EXECUTOR_SECRET_X"} & seen.keys()
    assert seen["EXECUTOR_RUN_ID"] == run_id
