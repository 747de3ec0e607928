"""The workflows in examples/ do what their comments say, run through the real `executor run`."""

from __future__ import annotations

import json
import re
import subprocess

from tests.support.engine import running_engine
from tests.support.http_server import RecordingServer
from tests.support.process import ROOT, run

EXAMPLES = ROOT / "examples"


def outputs_of(result: subprocess.CompletedProcess[str]) -> object:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_every_example_validates(executor: list[str]) -> None:
    files = sorted(str(path.relative_to(ROOT)) for path in EXAMPLES.glob("*.yaml"))
    assert len(files) >= 6
    result = run(executor, "validate", *files, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    for name in files:
        assert re.search(rf"^{re.escape(name)}: ok \(", result.stdout, re.M), name


def test_every_example_says_how_to_run_it() -> None:
    for path in EXAMPLES.glob("*.yaml"):
        text = path.read_text()
        assert text.startswith("# "), path.name
        assert f"executor run examples/{path.name}" in text, path.name


def test_fan_out_runs_every_item_two_at_a_time(executor: list[str]) -> None:
    result = run(executor, "run", "examples/fan-out.yaml", "-i", "count=5", cwd=ROOT)
    assert outputs_of(result) == {
        "squares": [0, 1, 4, 9, 16],
        "items": [{"item": n, "square": n * n} for n in range(5)],
    }
    running, most = set(), 0
    for line in result.stderr.splitlines():
        if match := re.match(r"([▶✓]) square\[(\d)\]", line):
            mark, item = match.groups()
            if mark == "▶":
                running.add(item)
            else:
                running.discard(item)
            most = max(most, len(running))
    assert most == 2, result.stderr
    assert len(re.findall(r"^✓ square\[\d\]", result.stderr, re.M)) == 5


def test_retry_backoff_succeeds_on_the_third_attempt(executor: list[str]) -> None:
    result = run(executor, "run", "examples/retry-backoff.yaml", cwd=ROOT)
    assert outputs_of(result) == {"succeeded_on_attempt": 3}
    assert "attempt 1 failed, retry in 200ms" in result.stderr
    assert "attempt 2 failed, retry in 400ms" in result.stderr
    assert "attempt 3 failed" not in result.stderr


def test_child_workflow_uses_the_childs_outputs(executor: list[str]) -> None:
    result = run(
        executor, "run", "examples/child-workflow.yaml", "--workflows", "examples", "-i", "who=Ada", cwd=ROOT
    )
    assert outputs_of(result) == {"greeting": "Hello, Ada!", "shouted": "HELLO, ADA!"}
    assert "child-greet/greet" in result.stderr


def test_child_workflow_needs_the_child_registered(executor: list[str]) -> None:
    result = run(executor, "run", "examples/child-workflow.yaml", cwd=ROOT)
    assert result.returncode == 1
    assert json.loads(result.stdout)["status"] == "failed"
    assert "child-greet" in result.stdout


def test_http_call_posts_json_and_reads_the_answer(executor: list[str]) -> None:
    with RecordingServer() as server:
        url = f"url={server.url}/hooks/build"
        result = run(executor, "run", "examples/http-call.yaml", "-i", url, "-i", "message=shipped", cwd=ROOT)
        outputs = outputs_of(result)
        assert len(server.requests) == 1
        request = server.requests[0]
    assert request["method"] == "POST" and request["path"] == "/hooks/build"
    assert request["headers"]["content-type"] == "application/json"
    sent = json.loads(request["body"])
    assert sent["message"] == "shipped"
    assert outputs == {"status": 200, "answer": {"path": "/hooks/build", "body": sent}}


def test_http_call_fails_on_an_unexpected_status(executor: list[str]) -> None:
    with RecordingServer(status=500) as server:
        result = run(executor, "run", "examples/http-call.yaml", "-i", f"url={server.url}/x", cwd=ROOT)
        assert len(server.requests) == 3, "retried up to max_attempts"
    assert result.returncode == 1
    failure = json.loads(result.stdout)
    assert failure["status"] == "failed" and "call" in failure["error"] and "500" in failure["error"]


def test_http_call_requires_a_url(executor: list[str]) -> None:
    result = run(executor, "run", "examples/http-call.yaml", cwd=ROOT)
    assert result.returncode != 0
    assert "'url' is a required property" in result.stderr
    assert "Traceback" not in result.stderr


async def test_approval_releases_once_approved(sqlite_url: str) -> None:
    source = (EXAMPLES / "approval.yaml").read_text()
    async with running_engine(sqlite_url) as harness:
        run_id = await harness.submit(source)
        await harness.wait_step(run_id, "approve", "waiting")
        run, _ = await harness.engine.get(run_id)
        assert run.status == "running"
        await harness.engine.signal(run_id, "approve", {"approved": True, "by": "ana"})
        run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert run.outputs == {"version": "1.4.2", "approved": True, "decided_by": "ana", "release": "succeeded"}
    assert steps["release"].output == {"message": "released 1.4.2, approved by ana"}


async def test_approval_skips_the_release_when_refused(sqlite_url: str) -> None:
    source = (EXAMPLES / "approval.yaml").read_text()
    async with running_engine(sqlite_url) as harness:
        run_id = await harness.submit(source)
        await harness.wait_step(run_id, "approve", "waiting")
        await harness.engine.signal(run_id, "approve", {"approved": False, "by": "bob"})
        run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert run.outputs == {"version": "1.4.2", "approved": False, "decided_by": "bob", "release": "skipped"}
    assert steps["release"].status == "skipped"


async def test_release_builds_tests_waits_for_approval_then_deploys(sqlite_url: str) -> None:
    source = (EXAMPLES / "release.yaml").read_text()
    async with running_engine(sqlite_url) as harness:
        run_id = await harness.submit(source, {"version": "2.0.1", "environment": "production"})
        await harness.wait_step(run_id, "approve", "waiting")
        await harness.engine.signal(run_id, "approve", {"approved": True})
        run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert run.outputs == {"artifact": "release-2.0.1.tar.gz"}
    assert [steps[f"integration[{n}]"].status for n in range(4)] == ["succeeded"] * 4
    assert steps["deploy"].status == "succeeded"
