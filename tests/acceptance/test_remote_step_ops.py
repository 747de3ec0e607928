"""`executor runs cancel-step|retry-step`, spawned for real against a real service through
the recording proxy (every request checked against the service's /openapi.json), on SQLite
with a token and on PostgreSQL without one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.acceptance.test_remote_cli import TOKEN, Service, _service, one_error_line
from tests.support.waiting import wait_until

FLOW = """\
name: NAME
steps:
  - id: check
    action: shell
    with: {command: 'test -e "$FLAG"', env: {FLAG: "{{ inputs.flag }}"}}
  - {id: after, action: noop, needs: [check]}
  - {id: fan, for_each: [0, 1], action: wait, with: {signal: "go-{{ item }}"}}
inputs:
  type: object
  properties:
    flag: {type: string}
"""


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(("sqlite", TOKEN), id="sqlite-token"),
        pytest.param(("postgres", None), id="postgres", marks=pytest.mark.postgres),
    ],
)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    backend, token = request.param
    yield from _service(request, tmp_path_factory, backend, token)


def step(service: Service, run_id: str, step_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        s for s in service.api("GET", f"/runs/{run_id}")["steps"] if s["id"] == step_id
    )
    return found


def test_cancel_an_item_and_retry_a_failed_step(served: Service) -> None:
    name = served.push(FLOW)
    flag = served.home / f"{name}.fixed"
    run_id = served.cli("runs", "start", name, "-i", f"flag={flag}").stdout.strip()
    wait_until(lambda: step(served, run_id, "check")["status"] == "failed", 30, what="check to fail")
    wait_until(
        lambda: [i["status"] for i in step(served, run_id, "fan").get("items") or []] == ["waiting"] * 2,
        30,
        what="the items waiting",
    )

    cancelled = served.cli("runs", "cancel-step", run_id, "fan", "--item", "1", "-o", "json")
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stderr == f"cancelled step fan item 1 of run {run_id}: run now running\n"
    fan = next(s for s in json.loads(cancelled.stdout)["steps"] if s["id"] == "fan")
    assert [item["status"] for item in fan["items"]] == ["waiting", "cancelled"]
    assert fan["items"][1]["error"] == "cancelled by an operator (API)"

    flag.touch()
    retried = served.cli("runs", "retry-step", run_id, "check")
    assert retried.returncode == 0 and retried.stdout == "", retried.stderr
    assert retried.stderr == f"retried step check of run {run_id}: run now running\n"
    wait_until(lambda: step(served, run_id, "after")["status"] == "succeeded", 30, what="after to run")

    again = served.cli("runs", "retry-step", run_id, "check")
    assert again.returncode == 1
    assert one_error_line(again) == (
        "executor: error: conflict (409): step check is succeeded; only a failed, cancelled or skipped "
        "step is retried"
    )
    whole = served.cli("runs", "cancel-step", run_id, "fan", "-o", "jsonl")
    assert whole.returncode == 0, whole.stderr
    assert json.loads(whole.stdout)["status"] == "succeeded", "fan's items all cancelled: nothing failed"


def test_step_commands_name_what_is_wrong(served: Service) -> None:
    name = served.push(FLOW)
    run_id = served.cli("runs", "start", name, "-i", "flag=/nonexistent").stdout.strip()
    wait_until(lambda: step(served, run_id, "fan")["status"] == "running", 30, what="fan to fan out")
    unknown = served.cli("runs", "cancel-step", run_id, "nope")
    assert unknown.returncode == 1
    assert one_error_line(unknown) == f"executor: error: not_found (404): run {run_id} has no step nope"
    beyond = served.cli("runs", "cancel-step", run_id, "fan", "--item", "5")
    assert beyond.returncode == 1
    assert one_error_line(beyond).startswith(
        "executor: error: invalid_request (422): item: step fan has 2 items"
    )
    negative = served.cli("runs", "cancel-step", run_id, "fan", "--item", "-1")
    assert negative.returncode == 2 and "--item" in negative.stderr
    usage = served.cli("runs", "retry-step", run_id)
    assert usage.returncode == 2 and "Missing argument 'STEP'" in usage.stderr
    help_text = served.cli("runs", "--help").stdout
    assert "cancel-step" in help_text and "retry-step" in help_text
    assert served.cli("runs", "cancel", run_id).returncode == 0
