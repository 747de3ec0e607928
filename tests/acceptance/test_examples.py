"""The workflows in examples/ do what their comments say, run through the real `executor run`."""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
from pathlib import Path

from tests.support.engine import running_engine
from tests.support.fake_llm import FakeLlm, completion
from tests.support.http_server import RecordingServer
from tests.support.process import ROOT, clean_env, run

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


def test_matrix_build_runs_every_combination_and_stops_at_a_broken_one(executor: list[str]) -> None:
    result = run(executor, "run", "examples/matrix-build.yaml", cwd=ROOT)
    assert outputs_of(result) == {
        "targets": ["linux/3.11", "linux/3.12", "mac/3.12", "windows/3.12"],
        "artifacts": [
            "app-linux-py3.11.tar.gz",
            "app-linux-py3.12.tar.gz",
            "app-mac-py3.12.tar.gz",
            "app-windows-py3.12.tar.gz",
        ],
        "with_coverage": ["linux/3.12"],
    }
    broken = run(executor, "run", "examples/matrix-build.yaml", "-i", "broken=mac", cwd=ROOT)
    assert broken.returncode == 1, broken.stderr
    failure = json.loads(broken.stdout)
    assert failure["status"] == "failed"
    assert "for_each fail_fast: item 2 failed" in failure["error"]
    assert "compiler crashed on mac" in failure["error"]


async def test_approve_reject_releases_on_the_first_signal_an_approval(sqlite_url: str) -> None:
    source = (EXAMPLES / "approve-reject.yaml").read_text()
    async with running_engine(sqlite_url) as harness:
        run_id = await harness.submit(source)
        await harness.wait_step(run_id, "decide", "waiting")
        await harness.engine.signal(run_id, "approve", {"by": "ana"})
        run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert run.outputs == {
        "version": "1.4.2",
        "decision": "approve",
        "decided_by": "ana",
        "release": "succeeded",
        "reason": None,
    }
    assert steps["release"].output == {"message": "released 1.4.2, approved by ana"}
    assert steps["rejected"].status == "skipped"


async def test_approve_reject_records_a_rejection_sent_before_the_build_ended(sqlite_url: str) -> None:
    source = (EXAMPLES / "approve-reject.yaml").read_text()
    async with running_engine(sqlite_url) as harness:
        run_id = await harness.submit(source)
        await harness.engine.signal(run_id, "reject", {"by": "bob", "reason": "tests flaky"})
        await harness.engine.signal(run_id, "approve", {"by": "ana"})  # too late: kept, unused
        run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert run.outputs == {
        "version": "1.4.2",
        "decision": "reject",
        "decided_by": "bob",
        "release": "skipped",
        "reason": "tests flaky",
    }


def test_cleanup_runs_its_finally_steps_however_the_run_ends(executor: list[str]) -> None:
    deployed = run(executor, "run", "examples/cleanup.yaml", cwd=ROOT)
    assert outputs_of(deployed) == {"deployed": True}
    assert "✓ deploy" in deployed.stderr and "✓ unlock" in deployed.stderr
    early = run(executor, "run", "examples/cleanup.yaml", "-i", "up_to_date=true", cwd=ROOT)
    assert outputs_of(early) == {"deployed": False}
    assert "⊘ deploy" in early.stderr and "✓ unlock" in early.stderr
    failed = run(executor, "run", "examples/cleanup.yaml", "-i", "fail=true", cwd=ROOT)
    assert failed.returncode == 1
    assert json.loads(failed.stdout) == {
        "status": "failed",
        "error": "step deploy failed: command failed (exit code 1): deploying",
        "outputs": {"deployed": False},
    }
    assert "✓ unlock" in failed.stderr


def test_polling_loop_polls_until_done_and_gives_up_at_max(executor: list[str]) -> None:
    done = run(executor, "run", "examples/polling-loop.yaml", cwd=ROOT)
    assert outputs_of(done) == {"polls": 3, "state_before": "running", "message": "done after 3 polls"}
    assert re.findall(r"^▶ status[ ]*(.*)$", done.stderr, re.M) == ["", "attempt 2", "attempt 3"]
    never = run(executor, "run", "examples/polling-loop.yaml", "-i", "ready_after=9", cwd=ROOT)
    assert never.returncode == 1
    report = json.loads(never.stdout)
    assert report["status"] == "failed"
    assert report["error"].startswith(
        "step status failed: repeat: until was still false after 5 iterations (max 5)"
    )
    assert len(re.findall(r"^▶ status", never.stderr, re.M)) == 5


def test_deploy_concurrency_never_overlaps_what_shares_a_key(executor: list[str]) -> None:
    result = run(executor, "run", "examples/deploy-concurrency.yaml", "-i", "env=staging", cwd=ROOT)
    outputs = outputs_of(result)
    assert isinstance(outputs, dict) and outputs["version"] == "1.4.2"
    first, second = sorted(outputs["migrations"])
    assert first[1] <= second[0], "the mutex let one migration in at a time"
    warm_ups = outputs["warm_ups"]
    most = max(sum(start <= at < end for start, end in warm_ups) for at, _ in warm_ups)
    assert most == 2, "the semaphore let two warm-ups in at a time, never three"
    waiting = r"^⏸ migrate_(users|orders) +waiting for mutex db-staging \(1st in line\)$"
    assert re.search(waiting, result.stderr, re.M), result.stderr


def test_build_artifacts_hands_files_from_step_to_step_and_saves_them(
    executor: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = run(executor, "run", "examples/build-artifacts.yaml", "--save-artifacts", str(out), cwd=ROOT)
    assert outputs_of(result) == {
        "summary": "unit: ok (app 1.0.0)\nintegration: ok (app 1.0.0)\n",
        "files": ["release.tar.gz"],
    }
    saved = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert saved == [
        "build/dist/app-1.0.0.txt",
        "package/release.tar.gz",
        "test/0/results.txt",
        "test/1/results.txt",
    ]
    with tarfile.open(out / "package" / "release.tar.gz") as tar:
        assert sorted(tar.getnames()) == ["dist", "dist/app-1.0.0.txt", "summary.txt"]


def test_summarize_asks_for_a_structured_summary_and_reports_its_cost(
    executor: list[str], tmp_path: Path
) -> None:
    document = tmp_path / "notes.txt"
    document.write_text("Executor runs workflows durably.\n")
    prices = tmp_path / "prices.yaml"
    prices.write_text("fake-model: {input: 1, output: 2}\n")
    reply = json.dumps({"title": "Notes", "summary": "Executor runs workflows.", "key_points": ["durable"]})
    with FakeLlm(completion(reply, input_tokens=100, output_tokens=20)) as server:
        result = run(
            executor, "run", "examples/summarize.yaml", "-i", f"file={document}", "-i", "model=fake-model",
            "--llm-base-url", server.url, "--llm-prices", str(prices),
            cwd=ROOT, env=clean_env(EXECUTOR_SECRET_OPENAI_API_KEY="sk-example"),
        )  # fmt: skip
        [request] = server.requests
    assert outputs_of(result) == {
        "title": "Notes",
        "summary": "Executor runs workflows.",
        "key_points": ["durable"],
        "tokens": {"input_tokens": 100, "output_tokens": 20, "cached_tokens": 0, "reasoning_tokens": 0},
        "cost_usd": 0.00014,
    }
    assert request.headers["authorization"] == "Bearer sk-example"
    sent = request.json
    assert sent["model"] == "fake-model"
    assert "Executor runs workflows durably." in sent["messages"][1]["content"]
    assert sent["response_format"]["json_schema"]["schema"]["required"] == ["title", "summary", "key_points"]
