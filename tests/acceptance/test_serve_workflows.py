"""`executor serve --workflows DIR`: the folder's workflows are registered at start, an invalid
one is reported and skipped, and the service runs what is submitted to its database."""

from __future__ import annotations

from pathlib import Path

from executor.store.records import RunRecord, StepRow
from tests.support import client
from tests.support.process import Server, clean_env
from tests.support.waiting import wait_until

HELLO = """\
name: hello
inputs: {type: object, properties: {who: {type: string, default: world}}}
steps:
  - id: say
    action: shell
    with: {command: ["echo", "hello {{ inputs.who }}"]}
    outputs: {text: "{{ result.stdout | trim }}"}
outputs: {greeting: "{{ steps.say.output.text }}"}
"""

BROKEN = """\
name: broken
steps:
  - id: one
    action: shel
    with: {command: "true"}
  - id: two
    action: shell
    needs: [missing]
    retry: {delay: abc}
    with: {command: "true"}
"""


def folder(workdir: Path) -> Path:
    flows = workdir / "flows"
    flows.mkdir()
    (flows / "hello.yaml").write_text(HELLO)
    (flows / "broken.yaml").write_text(BROKEN)
    return flows


def database(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'executor.db'}"


def serve(executor: list[str], workdir: Path, servers: list[Server]) -> Server:
    server = Server(executor, workdir, ["--workflows", "flows", "--poll-interval", "100ms"], clean_env())
    servers.append(server)
    return server.start().wait_running()


def stop(server: Server) -> None:
    server.signal()
    assert server.wait_exit(30) == 0


def registered(server: Server) -> list[tuple[str, int]]:
    return [
        (line["workflow"], line["version"])
        for line in server.log_lines()
        if line.get("message") == "registered workflow version"
    ]


def versions(workdir: Path) -> dict[str, int]:
    return {record.name: record.version for record in client.workflows(database(workdir))}


def test_the_valid_workflow_is_registered_and_the_invalid_one_reported(
    executor: list[str], workdir: Path, servers: list[Server]
) -> None:
    folder(workdir)
    server = serve(executor, workdir, servers)
    assert server.get("/health").json() == {"state": "running"}

    errors = [line for line in server.log_lines() if line["level"] == "error"]
    problems = [line["message"] for line in errors]
    assert len(problems) == 3, problems
    for where in [
        "broken.yaml:4: steps[0].action:",
        "broken.yaml:8: steps[1].needs[0]:",
        "broken.yaml:9: steps[1].retry.delay:",
    ]:
        assert any(where in message for message in problems), (where, problems)
    assert all(line.get("file", "").endswith("broken.yaml") for line in errors)

    assert registered(server) == [("hello", 1)]
    assert versions(workdir) == {"hello": 1}
    stop(server)


def test_a_changed_file_becomes_a_new_version_and_an_unchanged_one_registers_nothing(
    executor: list[str], workdir: Path, servers: list[Server]
) -> None:
    flows = folder(workdir)
    stop(serve(executor, workdir, servers))
    assert versions(workdir) == {"hello": 1}

    (flows / "hello.yaml").write_text(HELLO.replace("hello {{ inputs.who }}", "hi {{ inputs.who }}"))
    server = serve(executor, workdir, servers)
    assert registered(server) == [("hello", 2)]
    stop(server)
    [second] = client.workflows(database(workdir))
    assert (second.name, second.version) == ("hello", 2)
    assert "hi {{ inputs.who }}" in second.source

    server = serve(executor, workdir, servers)
    assert registered(server) == []
    stop(server)
    [again] = client.workflows(database(workdir))
    assert (again.version, again.created_at) == (2, second.created_at)


def test_the_service_runs_a_submitted_run_of_a_registered_workflow(
    executor: list[str], workdir: Path, servers: list[Server]
) -> None:
    flows = folder(workdir)
    server = serve(executor, workdir, servers)
    url = database(workdir)
    run_ids = client.submit(url, (flows / "hello.yaml").read_text(), [{"who": "Ada"}, {}])
    assert versions(workdir) == {"hello": 1}, "the same definition is the same version"

    def finished() -> list[tuple[RunRecord, list[StepRow]]]:
        found = client.runs(url, run_ids)
        return found if all(run.status in ("succeeded", "failed", "cancelled") for run, _ in found) else []

    done = wait_until(finished, timeout=30, interval=0.1, what="the service to run both runs")
    for (run, steps), greeting in zip(done, ["hello Ada", "hello world"], strict=True):
        assert run.status == "succeeded", (run.error, [(s.step_id, s.status, s.error) for s in steps])
        assert (run.workflow_name, run.workflow_version) == ("hello", 1)
        assert run.outputs == {"greeting": greeting}
    stop(server)
