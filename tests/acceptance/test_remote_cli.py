"""The remote CLI (`executor runs|workflows|schedules|instances|context`), spawned for real
against a real service on a free port (SQLite and PostgreSQL, with and without a token).

Between the CLI and the service sits a small recording reverse proxy
(`tests.support.recording_proxy`): every request the CLI sends is checked against the
service's own ``/openapi.json``. Nothing in the product knows about it.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import stat
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from tests.support import databases
from tests.support.http_server import RecordingServer
from tests.support.process import CLI, Server, clean_env
from tests.support.recording_proxy import Recorded, RecordingProxy, free_port, violations
from tests.support.waiting import wait_until

TOKEN = "remote-cli-secret"

# --- the service under test, and the CLI --------------------------------------------------


@dataclass
class Service:
    server: Server
    proxy: RecordingProxy
    token: str | None
    document: dict[str, Any]
    home: Path
    checked: int = 0
    names: Iterator[int] = field(default_factory=lambda: iter(range(1, 10**6)))

    @property
    def url(self) -> str:
        return self.proxy.url

    def env(self, **extra: str) -> dict[str, str]:
        """The CLI's environment: pointed at the proxy (with the token), a config folder of its own."""
        env = clean_env(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.home / "xdg"),
            EXECUTOR_SERVER=self.url,
            COLUMNS="200",
        )
        if self.token:
            env["EXECUTOR_API_TOKEN"] = self.token
        env.update(extra)
        return {k: v for k, v in env.items() if v != ""}

    def cli(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
        timeout: float = 60,
        auth: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``executor ARGS``; then check every request it sent against the document
        (``auth=False``: a request sent without the token on purpose is no violation)."""
        result = subprocess.run(
            [*CLI, *args],
            cwd=self.home,
            env=env or self.env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        self.check_requests(auth)
        return result

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*CLI, *args],
            cwd=self.home,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def check_requests(self, auth: bool = True) -> None:
        for request in self.proxy.recorded[self.checked :]:
            problems = violations(self.document, request, auth)
            assert not problems, "\n".join(problems)
        self.checked = len(self.proxy.recorded)

    def api(self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        """The service itself, for the test's own looks (not through the proxy)."""
        headers = {**({"Authorization": f"Bearer {self.token}"} if self.token else {}), **(headers or {})}
        response = httpx.request(method, self.server.url + path, headers=headers, timeout=10, **kwargs)
        response.raise_for_status()
        return response.json()

    def wait_run(self, run_id: str, *statuses: str) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            run: dict[str, Any] = self.api("GET", f"/runs/{run_id}")
            return run if run["status"] in statuses else None

        return wait_until(reached, 30, what=f"run {run_id} to be {' or '.join(statuses)}")

    def write(self, flow: str, **names: str) -> tuple[Path, str]:
        """Write ``flow`` with a name no other test uses; the file and that name."""
        number = next(self.names)
        name = f"{names.get('prefix', 'flow')}-{number}"
        path = self.home / f"{name}.yaml"
        path.write_text(flow.replace("NAME", name))
        return path, name

    def push(self, flow: str, prefix: str = "flow") -> str:
        """Register ``flow`` under a new name (through the API: `workflows push` has its own tests)."""
        path, name = self.write(flow, prefix=prefix)
        self.api(
            "POST", "/workflows", content=path.read_bytes(), headers={"Content-Type": "application/yaml"}
        )
        return name

    def finished_run(self, workflow: str) -> str:
        """The id of a run of ``workflow`` started through the API, once it has ended."""
        run_id: str = self.api("POST", "/runs", json={"workflow": workflow})["id"]
        self.wait_run(run_id, "succeeded", "failed", "cancelled")
        return run_id


def _service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str, token: str | None
) -> Iterator[Service]:
    home = tmp_path_factory.mktemp(f"remote-{backend}")
    with _database(request, backend, home) as url:
        args = ["--database", url, "--poll-interval", "100ms", *(["--api-token", token] if token else [])]
        server = Server(CLI, home, args=args)
        try:
            server.start().wait_running()
            document = httpx.get(
                server.url + "/openapi.json",
                headers={"Authorization": f"Bearer {token}"} if token else {},
                timeout=10,
            ).json()
            with RecordingProxy(server.url) as proxy:
                yield Service(server, proxy, token, document, home)
        finally:
            server.stop()


def _database(request: pytest.FixtureRequest, backend: str, home: Path) -> Any:
    from contextlib import nullcontext

    if backend == "sqlite":
        return nullcontext(
            databases.sqlite_copy(request.getfixturevalue("sqlite_template"), home / "executor.db")
        )
    return databases.postgres_database(template=request.getfixturevalue("postgres_template"))


@pytest.fixture(scope="module")
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The service most tests share (one per module): SQLite, with a token. What the CLI does
    depends little on the backend; the tour below runs on every other kind."""
    yield from _service(request, tmp_path_factory, "sqlite", TOKEN)


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(("sqlite", None), id="sqlite"),
        pytest.param(("postgres", None), id="postgres", marks=pytest.mark.postgres),
        pytest.param(("postgres", TOKEN), id="postgres-token", marks=pytest.mark.postgres),
    ],
)
def tour_service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """The other kinds: SQLite without a token, PostgreSQL without and with one."""
    backend, token = request.param
    yield from _service(request, tmp_path_factory, backend, token)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    errors = lines(result.stderr)
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("executor: error: "), result.stderr
    return errors[0]


GREET = """\
name: NAME
description: greets
inputs:
  type: object
  properties:
    who: {type: string, default: world}
steps:
  - id: greet
    action: shell
    with:
      command: 'for i in 1 2 3; do echo "hello $WHO $i"; sleep 0.1; done'
      env: {WHO: "{{ inputs.who }}"}
  - id: done
    needs: [greet]
    action: noop
outputs:
  who: "{{ inputs.who }}"
"""

FAIL = """\
name: NAME
steps:
  - id: boom
    action: shell
    with: {command: 'echo "about to fail" >&2; exit 3'}
"""

QUICK = """\
name: NAME
steps:
  - id: a
    action: noop
"""

GATE = """\
name: NAME
steps:
  - id: approve
    action: wait
    with: {signal: go}
outputs:
  by: "{{ steps.approve.output.by }}"
"""

# Prints a line, then waits for a file to exist before printing the next and ending: the
# test decides when the step ends, so it can see a line arrive while the step still runs.
HOLD = """\
name: NAME
inputs:
  type: object
  properties:
    flag: {type: string}
steps:
  - id: hold
    action: shell
    with:
      command: 'echo first; while [ ! -e "$FLAG" ]; do sleep 0.05; done; echo second'
      env: {FLAG: "{{ inputs.flag }}"}
"""

FAN = """\
name: NAME
steps:
  - id: each
    action: shell
    for_each: "{{ [1, 2] }}"
    with:
      command: 'echo "item $N"'
      env: {N: "{{ item }}"}
"""

RISKY = """\
name: NAME
inputs:
  type: object
  properties:
    x: {type: string}
steps:
  - id: a
    action: shell
    with:
      command: 'echo {{ inputs.x }}'
"""

INVALID = """\
name: NAME
steps:
  - id: a
    action: nope
"""

SCHEDULED = """\
name: NAME
schedules:
  - id: hourly
    every: 1h
steps:
  - id: a
    action: noop
"""


# --- workflows ------------------------------------------------------------------------------


def test_workflows_push_list_get_and_versions(service: Service) -> None:
    path, name = service.write(GREET)
    first = service.cli("workflows", "push", str(path))
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"{name} version 1 (new)\n"
    again = service.cli("workflows", "push", str(path))
    assert again.returncode == 0 and again.stdout == f"{name} version 1 (unchanged)\n"
    path.write_text(path.read_text().replace("description: greets", "description: greets again"))
    second = service.cli("workflows", "push", str(path), "-o", "json")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) == {"name": name, "version": 2, "warnings": []}

    listed = service.cli("workflows", "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    mine = [w for w in json.loads(listed.stdout) if w["name"] == name]
    assert len(mine) == 1 and mine[0]["version"] == 2
    table = service.cli("workflows", "list")
    assert table.stdout.startswith("NAME") and re.search(rf"^{name}\s+2\s+2\s+0\s", table.stdout, re.M)
    jsonl = service.cli("workflows", "list", "-o", "jsonl")
    assert name in [json.loads(line)["name"] for line in lines(jsonl.stdout)]

    got = service.cli("workflows", "get", name, "-o", "json")
    assert json.loads(got.stdout)["version"] == 2
    old = service.cli("workflows", "get", name, "--version", "1", "-o", "json")
    assert json.loads(old.stdout)["description"] == "greets"
    source = service.cli("workflows", "get", name, "--source")
    assert source.stdout == path.read_text()
    shown = service.cli("workflows", "get", name)
    assert re.search(r"^steps\s+greet, done$", shown.stdout, re.M), shown.stdout
    versions = service.cli("workflows", "versions", name, "-o", "jsonl")
    assert [json.loads(line)["version"] for line in lines(versions.stdout)] == [2, 1]

    missing = service.cli("workflows", "get", "no-such-flow")
    assert missing.returncode == 1
    assert one_error_line(missing) == "executor: error: not_found (404): no workflow no-such-flow"


def test_push_prints_warnings_and_every_problem_and_goes_on(service: Service) -> None:
    risky, risky_name = service.write(RISKY)
    invalid, _ = service.write(INVALID)
    good, good_name = service.write(QUICK)
    result = service.cli("workflows", "push", str(risky), str(invalid), str(good))
    assert result.returncode == 1
    assert result.stdout == f"{risky_name} version 1 (new)\n{good_name} version 1 (new)\n"
    warning, error = lines(result.stderr)
    assert warning.startswith(f"{risky}:10: warning: steps[0].with.command: "), warning
    assert error.startswith(f"executor: error: {invalid}: invalid_workflow (422): "), error
    assert "steps[0].action (line 4): " in error and "nope" in error


# --- starting and waiting -----------------------------------------------------------------


def test_start_wait_exits_as_executor_run_does(service: Service) -> None:
    greet, fail = service.push(GREET), service.push(FAIL)
    ok = service.cli("runs", "start", greet, "-i", "who=ana", "--wait")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == {"who": "ana"}
    assert re.search(r"^✓ greet\s+\d", ok.stderr, re.M) and re.search(r"^✓ done", ok.stderr, re.M)
    assert re.search(r"^run \S+ succeeded in ", ok.stderr, re.M)

    failed = service.cli("runs", "start", fail, "--wait")
    assert failed.returncode == 1, failed.stderr
    outcome = json.loads(failed.stdout)
    assert outcome["status"] == "failed" and "exit code 3" in outcome["error"]
    assert re.search(r"^✗ boom\s+failed command failed \(exit code 3\)", failed.stderr, re.M), failed.stderr

    as_json = service.cli("runs", "start", fail, "--wait", "-o", "json")
    assert as_json.returncode == 1
    run = json.loads(as_json.stdout)
    assert run["status"] == "failed" and run["steps"][0]["id"] == "boom" and run["steps"][0]["attempts"] == 1


def test_start_prints_the_run_and_takes_input_every_way(service: Service) -> None:
    greet = service.push(GREET)
    started = service.cli("runs", "start", greet)
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip()
    assert re.fullmatch(r"[0-9a-f-]{36}", run_id), started.stdout
    assert started.stderr.startswith(f"run {run_id} of {greet} (version 1)")
    assert service.wait_run(run_id, "succeeded")["input"] == {"who": "world"}  # the default

    (service.home / "input.json").write_text('{"who": "file"}')
    from_file = service.cli(
        "runs", "start", greet, "--input-file", "input.json", "-i", "extra=[1]", "-o", "json"
    )
    assert json.loads(from_file.stdout)["input"] == {"who": "file", "extra": [1]}
    from_stdin = service.cli(
        "runs", "start", greet, "--input-file", "-", "-o", "jsonl", stdin='{"who": "in"}'
    )
    assert len(lines(from_stdin.stdout)) == 1 and json.loads(from_stdin.stdout)["input"] == {"who": "in"}

    keyed = [
        service.cli("runs", "start", greet, "--input", '{"who": "k"}', "--idempotency-key", "k1")
        for _ in "ab"
    ]
    assert keyed[0].stdout == keyed[1].stdout
    assert "already started with this idempotency key" in keyed[1].stderr

    not_object = service.cli("runs", "start", greet, "--input", "[1]")
    assert not_object.returncode == 2
    assert one_error_line(not_object) == "executor: error: invalid --input: must be a JSON object"
    wrong = service.cli("runs", "start", greet, "-i", "who=5")
    assert wrong.returncode == 1
    line = one_error_line(wrong)
    assert line.startswith("executor: error: invalid_input (422): invalid input: $.who: "), line


def test_start_batch_starts_a_files_runs_and_says_what_became_of_each(service: Service) -> None:
    quick, greet = service.push(QUICK), service.push(GREET)
    runs = [
        {"workflow": quick, "idempotency_key": "batch-1"},
        {"workflow": "no-such-flow"},
        {"workflow": quick, "idempotency_key": "batch-1"},  # the first's run, in another request
        {"workflow": greet, "input": {"who": 5}},
        {"workflow": greet, "input": {"who": "batch"}},
    ]
    path = service.home / "runs.jsonl"
    path.write_text(
        "\n".join(json.dumps(run) for run in runs[:2])
        + "\n\n"
        + "\n".join(json.dumps(run) for run in runs[2:])
    )
    sent = len(service.proxy.recorded)
    mixed = service.cli("runs", "start-batch", str(path), "--chunk", "2", "-o", "json")
    assert mixed.returncode == 1, mixed.stderr
    results = json.loads(mixed.stdout)
    assert [(r["index"], r["status"]) for r in results] == [(0, 201), (1, 404), (2, 200), (3, 422), (4, 201)]
    assert results[2]["run"]["id"] == results[0]["run"]["id"]
    assert results[3]["error"]["details"][0]["path"] == "$[3].input.who", "the file's item, not the request's"
    assert lines(mixed.stderr) == ["2 started, 1 already started, 2 refused, of 5 run(s)"]
    assert service.wait_run(results[4]["run"]["id"], "succeeded")["input"] == {"who": "batch"}
    assert [r.path for r in service.proxy.recorded[sent:]] == ["/runs/batch"] * 3, "chunks of 2"

    # From stdin, a JSON array; a table; every run started or had: exit 0.
    again = service.cli("runs", "start-batch", "-", stdin=json.dumps([runs[0], {"workflow": quick}]))
    assert again.returncode == 0, again.stderr
    table = lines(again.stdout)
    assert table[0].split() == ["ITEM", "RESULT", "RUN", "ERROR"]
    assert table[1].split() == ["0", "existing", results[0]["run"]["id"]]
    assert table[2].split()[:2] == ["1", "started"]
    assert lines(again.stderr) == ["1 started, 1 already started, 0 refused, of 2 run(s)"]

    # Over the server's body limit (1 MiB), a chunk goes again in halves: both runs start.
    # (To the service itself: the service answers 413 before reading such a body, which the
    # recording proxy, still sending it, takes for a broken connection.)
    direct = service.env(EXECUTOR_SERVER=service.server.url)
    big = [{"workflow": quick, "input": {"blob": "x" * 600_000, "n": n}} for n in range(2)]
    halves = service.cli("runs", "start-batch", "-", "-o", "json", stdin=json.dumps(big), env=direct)
    assert halves.returncode == 0, halves.stderr
    assert [r["status"] for r in json.loads(halves.stdout)] == [201, 201]

    # A chunk the server refuses whole (one run over the limit alone) is reported per run;
    # the next chunk is still sent. JSON Lines, as each chunk is answered.
    too_big = {"workflow": quick, "input": {"blob": "x" * 1_100_000}}
    refused = service.cli(
        "runs", "start-batch", "-", "--chunk", "1", "-o", "jsonl",
        stdin=json.dumps(too_big) + "\n" + json.dumps({"workflow": quick}), env=direct,
    )  # fmt: skip
    assert refused.returncode == 1
    first, second = (json.loads(line) for line in lines(refused.stdout))
    assert (first["index"], first["status"], first["error"]["code"]) == (0, 413, "body_too_large")
    assert second["index"] == 1 and second["status"] == 201
    assert lines(refused.stderr) == ["1 started, 0 already started, 1 refused, of 2 run(s)"]

    # A server that cannot be reached: the request's runs may have started, the later ones
    # were not sent; every result is printed all the same.
    nowhere = service.env(EXECUTOR_SERVER=f"http://127.0.0.1:{free_port()}")
    two = json.dumps([{"workflow": quick}] * 2)
    gone = service.cli("runs", "start-batch", "-", "--chunk", "1", "-o", "json", stdin=two, env=nowhere)
    assert gone.returncode == 1
    lost, unsent = json.loads(gone.stdout)
    assert (lost["status"], lost["error"]["code"]) == (None, "unreachable")
    assert lost["error"]["message"].endswith("this request's runs may have started")
    assert unsent["error"]["message"] == "not sent: the server could not be reached"

    # A file that is not a list of runs is a usage error: nothing is sent.
    before = len(service.proxy.recorded)
    for text, problem in (
        ("[1, 2]", "item 0 is not a JSON object"),
        ('{"workflow": "a"}\n{"workflow"', "line 2 is not JSON"),
        ("", "it lists no runs"),
    ):
        usage = service.cli("runs", "start-batch", "-", stdin=text)
        assert usage.returncode == 2, usage.stderr
        assert one_error_line(usage).startswith(f"executor: error: invalid FILE: {problem}"), usage.stderr
    assert len(service.proxy.recorded) == before


def test_follow_streams_each_steps_log_lines_as_they_come(service: Service) -> None:
    name = service.push(HOLD)
    flag = service.home / f"flag-{name}"
    seen: list[str] = []
    with service.popen(
        "runs", "start", name, "--input", json.dumps({"flag": str(flag)}), "--follow"
    ) as process:
        assert process.stderr is not None and process.stdout is not None
        reader = threading.Thread(target=lambda: seen.extend(iter(process.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
        reader.start()
        try:
            wait_until(lambda: "hold | first\n" in seen, 30, what="the first log line")
            assert process.poll() is None and "hold | second\n" not in seen  # the step still runs
            flag.touch()
            assert process.wait(30) == 0
        finally:
            process.kill()
        reader.join(5)
        assert json.loads(process.stdout.read()) is None  # the workflow declares no outputs
    text = "".join(seen)
    assert (
        text.index("▶ hold") < text.index("hold | first") < text.index("hold | second") < text.index("✓ hold")
    )


KEYED = """\
name: NAME
inputs: {type: object, properties: {flag: {type: string}}}
concurrency: {key: NAME, limit: 1}
steps:
  - &held {id: first, action: shell, mutex: NAME-ledger, with: {command: 'while [ ! -e "$FLAG" ]; do sleep 0.05; done', env: {FLAG: "{{ inputs.flag }}"}}}
  - {<<: *held, id: second}
"""


def test_wait_says_which_key_a_step_or_the_run_waits_for(service: Service) -> None:
    """The first run's two steps share a mutex, and the second run waits for the first's
    concurrency key; all hold on until the flag exists."""
    name = service.push(KEYED)
    flag = service.home / f"flag-{name}"
    step_line = re.compile(rf"^⏸ (first|second)\s+waiting for mutex {name}-ledger \(1st in line\)$", re.M)
    run_line = re.compile(rf"^⏸ {name}\s+waiting for concurrency key {name} \(1st in line\)$", re.M)
    seen: list[list[str]] = [[], []]
    readers: list[threading.Thread] = []
    with contextlib.ExitStack() as stack:
        processes: list[subprocess.Popen[str]] = []
        for lines, wanted in zip(seen, (step_line, run_line), strict=True):
            start = ("runs", "start", name, "--input", json.dumps({"flag": str(flag)}), "--wait")
            process = stack.enter_context(service.popen(*start))
            stack.callback(process.kill)
            processes.append(process)
            stderr = process.stderr
            assert stderr is not None
            readers.append(threading.Thread(target=_collect, args=(stderr, lines), daemon=True))
            readers[-1].start()
            wait_until(lambda: wanted.search("".join(lines)), 30, what=wanted.pattern)  # noqa: B023
        flag.touch()
        assert [process.wait(30) for process in processes] == [0, 0], seen
        for reader in readers:
            reader.join(5)


def _collect(stream: IO[str], lines: list[str]) -> None:
    """Read ``stream`` into ``lines`` until it ends (a thread's target)."""
    lines.extend(iter(stream.readline, ""))


def test_ctrl_c_stops_waiting_and_leaves_the_run_going(service: Service) -> None:
    name = service.push(HOLD)
    flag = service.home / f"flag-{name}"
    with service.popen(
        "runs", "start", name, "--input", json.dumps({"flag": str(flag)}), "--follow"
    ) as process:
        assert process.stderr is not None
        try:
            run_line = process.stderr.readline()
            while process.stderr.readline() != "hold | first\n":
                pass
            process.send_signal(signal.SIGINT)
            assert process.wait(30) == 130
        finally:
            process.kill()
        rest = process.stderr.read()
    run_id = run_line.split()[1]
    assert rest == (
        f"stopped waiting: run {run_id} goes on (executor runs get {run_id}; executor runs cancel {run_id})\n"
    )
    assert service.api("GET", f"/runs/{run_id}")["status"] == "running"
    flag.touch()
    service.wait_run(run_id, "succeeded")


def test_logs_prints_and_follows_a_steps_lines(service: Service) -> None:
    name = service.push(HOLD)
    flag = service.home / f"flag-{name}"
    run_id = service.cli("runs", "start", name, "--input", json.dumps({"flag": str(flag)})).stdout.strip()
    with service.popen("runs", "logs", run_id, "hold", "-f") as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline() == "first\n"
            assert process.poll() is None
            flag.touch()
            assert process.stdout.readline() == "second\n"
            assert process.wait(30) == 0
        finally:
            process.kill()
    service.wait_run(run_id, "succeeded")

    printed = service.cli("runs", "logs", run_id, "hold")
    assert printed.returncode == 0 and printed.stdout == "first\nsecond\n"
    objects = [
        json.loads(line) for line in lines(service.cli("runs", "logs", run_id, "hold", "-o", "jsonl").stdout)
    ]
    assert [(o["line"], o["stream"], o["attempt"]) for o in objects] == [
        ("first", "stdout", 1),
        ("second", "stdout", 1),
    ]
    as_json = json.loads(service.cli("runs", "logs", run_id, "hold", "-o", "json").stdout)
    assert [o["line"] for o in as_json] == ["first", "second"]

    fan = service.push(FAN)
    fan_run = service.cli("runs", "start", fan, "--wait", "-o", "json")
    fan_id = json.loads(fan_run.stdout)["id"]
    assert service.cli("runs", "logs", fan_id, "each", "--item", "1").stdout == "item 2\n"
    followed = service.cli("runs", "logs", fan_id, "each", "--item", "0", "-f")
    assert followed.returncode == 0 and followed.stdout == "item 1\n"

    missing = service.cli("runs", "logs", run_id, "nope")
    assert missing.returncode == 1
    assert one_error_line(missing) == f"executor: error: not_found (404): run {run_id} has no step nope"


# --- reading runs ---------------------------------------------------------------------------


def test_runs_list_filters_pages_and_formats(service: Service) -> None:
    quick, fail = service.push(QUICK), service.push(FAIL)
    ids = [service.finished_run(quick) for _ in range(3)]
    failed_id = service.finished_run(fail)

    listed = json.loads(service.cli("runs", "list", "-w", quick, "-o", "json").stdout)
    assert [run["id"] for run in listed] == ids[::-1]  # newest first
    jsonl = service.cli("runs", "list", "-w", quick, "-o", "jsonl")
    assert [json.loads(line)["id"] for line in lines(jsonl.stdout)] == ids[::-1]
    table = service.cli("runs", "list", "-w", quick)
    header, *rows = lines(table.stdout)
    assert header.split() == ["RUN", "WORKFLOW", "STATUS", "TRIGGER", "CREATED", "TOOK", "ERROR"]
    assert [row.split()[:4] for row in rows] == [[i, quick, "v1", "succeeded"] for i in ids[::-1]]

    limited = service.cli("runs", "list", "-w", quick, "--limit", "2", "-o", "jsonl")
    assert len(lines(limited.stdout)) == 2
    hinted = service.cli("runs", "list", "-w", quick, "--limit", "2")
    assert "(the first 2; more with --limit or --all)" in hinted.stderr
    before = len(service.proxy.recorded)
    paged = service.cli("runs", "list", "-w", quick, "--all", "--page-size", "1", "-o", "jsonl")
    assert [json.loads(line)["id"] for line in lines(paged.stdout)] == ids[::-1]
    cursors = [r for r in service.proxy.recorded[before:] if "cursor=" in r.query]
    assert len(cursors) == 2  # pages 2 and 3 followed next_cursor

    def ids_of(*args: str) -> list[str]:
        result = service.cli("runs", "list", *args, "-o", "json")
        assert result.returncode == 0, result.stderr
        return [run["id"] for run in json.loads(result.stdout)]

    assert ids_of("-w", fail, "--status", "failed") == [failed_id]
    assert ids_of("-w", quick, "--status", "failed") == []
    assert ids_of("-w", quick, "--trigger", "api", "--since", "1h") == ids[::-1]
    assert ids_of("-w", quick, "--trigger", "schedule") == []
    assert ids_of("-w", quick, "--until", "1h") == []
    assert ids_of("-w", quick, "--since", "2999-01-01") == []
    assert ids_of("-w", quick, "--until", "2999-01-01T00:00:00+02:00") == ids[::-1]
    assert ids_of("--parent", ids[0]) == []
    empty = service.cli("runs", "list", "-w", "nothing-like-it")
    assert empty.returncode == 0 and empty.stdout == "" and empty.stderr == "no runs\n"

    assert service.cli("runs", "count", "-w", quick).stdout == "3\n"
    assert json.loads(
        service.cli("runs", "count", "-w", quick, "--status", "failed", "-o", "json").stdout
    ) == {"count": 0}
    bad = service.cli("runs", "list", "--since", "yesterday")
    assert bad.returncode == 2 and one_error_line(bad).startswith(
        "executor: error: invalid --since: 'yesterday'"
    )


def test_runs_get_shows_the_steps(service: Service) -> None:
    fail = service.push(FAIL)
    run_id = service.finished_run(fail)
    shown = service.cli("runs", "get", run_id)
    assert shown.returncode == 0, shown.stderr
    assert re.search(rf"^run\s+{run_id}$", shown.stdout, re.M)
    assert re.search(r"^status\s+failed$", shown.stdout, re.M)
    assert re.search(r"^STEP\s+STATUS\s+ATTEMPTS\s+STARTED\s+TOOK\s+ERROR$", shown.stdout, re.M)
    assert re.search(r"^boom\s+failed\s+1\s+.*command failed \(exit code 3\)", shown.stdout, re.M)
    document = json.loads(service.cli("runs", "get", run_id, "-o", "json").stdout)
    assert document["id"] == run_id and document["steps"][0]["status"] == "failed"
    assert json.loads(service.cli("runs", "get", run_id, "-o", "jsonl").stdout) == document


# --- acting on runs -------------------------------------------------------------------------


def test_a_signal_sent_again_with_its_idempotency_key_is_sent_once(service: Service) -> None:
    gate = service.push(GATE)
    run_id = service.cli("runs", "start", gate).stdout.strip()
    payload, key = '{"by": "ana"}', "k-1"
    command = ("runs", "signal", run_id, "go", "-p", payload, "--idempotency-key", key, "-o", "json")
    first = service.cli(*command)
    assert first.returncode == 0, first.stderr
    assert service.wait_run(run_id, "succeeded")["outputs"] == {"by": "ana"}
    again = service.cli(*command)  # the run has ended: the answer is the first sending's
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {"run": run_id, "signal": "go", "delivered": True}


def test_pause_resume_signal_cancel_retry(service: Service) -> None:
    gate, fail = service.push(GATE), service.push(FAIL)
    run_id = service.cli("runs", "start", gate).stdout.strip()
    wait_until(
        lambda: service.api("GET", f"/runs/{run_id}")["steps"][0]["status"] == "waiting", 30, what="the wait"
    )
    paused = service.cli("runs", "pause", run_id)
    assert paused.returncode == 0 and paused.stderr == f"paused run {run_id}: now paused\n", paused.stderr
    resumed = service.cli("runs", "resume", run_id, "-o", "json")
    assert resumed.returncode == 0 and json.loads(resumed.stdout)["status"] == "running"
    signalled = service.cli("runs", "signal", run_id, "go", "--payload", '{"by": "ana"}', "-o", "json")
    assert signalled.returncode == 0, signalled.stderr
    assert json.loads(signalled.stdout) == {"run": run_id, "signal": "go", "delivered": True}
    assert "signal go sent to run" in signalled.stderr
    assert service.wait_run(run_id, "succeeded")["outputs"] == {"by": "ana"}
    finished = service.cli("runs", "signal", run_id, "go")
    assert finished.returncode == 1
    assert one_error_line(finished).startswith("executor: error: conflict (409): ")

    other = service.cli("runs", "start", gate).stdout.strip()
    cancelled = service.cli("runs", "cancel", other, "no-such-run")
    assert cancelled.returncode == 1
    assert f"cancelled run {other}: now cancelled" in cancelled.stderr
    assert "executor: error: not_found (404): no run no-such-run" in cancelled.stderr
    assert service.api("GET", f"/runs/{other}")["status"] == "cancelled"

    failed = service.finished_run(fail)
    retried = service.cli("runs", "retry", failed)
    assert retried.returncode == 0, retried.stderr
    assert re.fullmatch(rf"retried run {failed}: now (pending|running|failed)\n", retried.stderr)
    service.wait_run(failed, "failed")

    waiting = [service.cli("runs", "start", gate).stdout.strip() for _ in range(2)]
    counted = service.cli("runs", "cancel", "-w", gate, "--dry-run", "-o", "json")
    assert json.loads(counted.stdout) == {"action": "cancel", "dry_run": True, "matched": 2}
    swept = service.cli("runs", "cancel", "-w", gate)
    assert swept.returncode == 0, swept.stderr
    assert sorted(lines(swept.stdout)) == sorted(waiting) and "cancelled 2 of 2 run(s)" in swept.stderr
    again = service.cli("runs", "retry", "-w", fail, "--status", "failed", "-o", "json")
    assert json.loads(again.stdout)["run_ids"] == [failed]
    both = service.cli("runs", "cancel", waiting[0], "-w", gate)
    assert both.returncode == 2 and "give run ids or a filter, not both" in both.stderr
    neither = service.cli("runs", "retry")
    assert neither.returncode == 2 and "invalid RUN: give the ids of the runs to retry" in neither.stderr


# --- schedules and instances ----------------------------------------------------------------


def test_schedules(service: Service) -> None:
    name = service.push(SCHEDULED)
    listed = service.cli("schedules", "list", "-w", name)
    assert listed.returncode == 0, listed.stderr
    assert re.search(rf"^{name}\s+hourly\s+every 1h\s+UTC\s", listed.stdout, re.M), listed.stdout
    assert [
        s["id"] for s in json.loads(service.cli("schedules", "list", "-w", name, "-o", "json").stdout)
    ] == ["hourly"]
    shown = service.cli("schedules", "get", name, "hourly")
    assert re.search(rf"^schedule\s+{name}/hourly$", shown.stdout, re.M)
    assert re.search(r"^paused\s+no$", shown.stdout, re.M)

    paused = service.cli("schedules", "pause", name, "hourly")
    assert paused.returncode == 0 and paused.stderr == f"schedule {name}/hourly: paused\n"
    assert json.loads(service.cli("schedules", "get", name, "hourly", "-o", "json").stdout)["paused"] is True
    resumed = service.cli("schedules", "resume", name, "hourly", "-o", "json")
    assert json.loads(resumed.stdout)["paused"] is False

    triggered = service.cli("schedules", "trigger", name, "hourly")
    assert triggered.returncode == 0, triggered.stderr
    run_id = triggered.stdout.strip()
    by_schedule = json.loads(
        service.cli("runs", "list", "-w", name, "--trigger", "schedule", "-o", "json").stdout
    )
    assert [run["id"] for run in by_schedule] == [run_id]

    window = ("--from", "2026-01-01T00:30:00Z", "--to", "2026-01-01T02:30:00Z")
    dry = service.cli("schedules", "backfill", name, "hourly", *window, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout == "2026-01-01T01:00:00Z\n2026-01-01T02:00:00Z\n"
    assert "2 tick(s)" in dry.stderr and "dry run" in dry.stderr
    done = service.cli(
        "schedules", "backfill", name, "hourly", *window, "--overlap", "allow_all", "-o", "json"
    )
    answer = json.loads(done.stdout)
    assert answer["dry_run"] is False and answer["started"] == 2
    backfilled = service.cli("runs", "count", "-w", name, "--trigger", "backfill")
    assert backfilled.stdout == "2\n"

    missing = service.cli("schedules", "get", name, "nope")
    assert missing.returncode == 1 and one_error_line(missing).startswith(
        "executor: error: not_found (404): "
    )


def test_instances_list(service: Service) -> None:
    found = json.loads(service.cli("instances", "list", "-o", "json").stdout)
    running = [i for i in found if i["state"] == "running"]
    assert len(running) == 1 and running[0]["pid"] == service.server.process.pid  # type: ignore[union-attr]
    table = service.cli("instances", "list")
    assert table.stdout.split()[:8] == [
        "INSTANCE",
        "HOST",
        "PID",
        "VERSION",
        "STATE",
        "STARTED",
        "HEARTBEAT",
        "STEPS",
    ]
    assert re.search(rf"\s{service.server.process.pid}\s.*\srunning\s", table.stdout)  # type: ignore[union-attr]


# --- errors ---------------------------------------------------------------------------------


def test_errors_are_one_line_with_the_code(service: Service) -> None:
    missing = service.cli("runs", "get", "1234")
    assert missing.returncode == 1 and missing.stdout == ""
    assert one_error_line(missing) == "executor: error: not_found (404): no run 1234"
    scheduled = service.push(SCHEDULED)
    backwards = service.cli(
        "schedules", "backfill", scheduled, "hourly", "--from", "2026-01-02", "--to", "2026-01-01"
    )
    assert backwards.returncode == 1
    assert one_error_line(backwards) == "executor: error: invalid_request (422): to is before from"

    port = free_port()
    refused = service.cli("runs", "list", "--server", f"http://127.0.0.1:{port}")
    assert refused.returncode == 1
    assert one_error_line(refused).startswith(
        f"executor: error: cannot reach the executor at http://127.0.0.1:{port}: connection refused"
    )
    bad_url = service.cli("runs", "list", "--server", "localhost:8080")
    assert bad_url.returncode == 2
    assert one_error_line(bad_url).startswith("executor: error: invalid --server: 'localhost:8080' is not")
    usage = service.cli("runs", "get")
    assert usage.returncode == 2 and "Missing argument 'RUN'" in usage.stderr


def check_token_errors(secured: Service) -> None:
    """A wrong token, or none, is one 401 line saying which; any of a rotation's tokens works."""
    wrong = secured.cli("runs", "list", env=secured.env(EXECUTOR_API_TOKEN="wrong"))
    assert wrong.returncode == 1
    assert one_error_line(wrong) == (
        "executor: error: unauthorized (401): send Authorization: Bearer <token> (the token sent was refused)"
    )
    none = secured.cli("runs", "list", env=secured.env(EXECUTOR_API_TOKEN=""), auth=False)
    assert none.returncode == 1
    assert one_error_line(none).startswith(
        "executor: error: unauthorized (401): send Authorization: Bearer <token> (no token was sent: "
    )
    rotated = secured.cli("runs", "list", env=secured.env(EXECUTOR_API_TOKEN=f"{TOKEN},other"))
    assert rotated.returncode == 0, rotated.stderr


def test_a_wrong_or_missing_token_is_one_401_line(service: Service) -> None:
    check_token_errors(service)


def test_a_tour_of_every_backend_with_and_without_a_token(tour_service: Service) -> None:
    service = tour_service
    greet = service.push(GREET)
    ok = service.cli("runs", "start", greet, "--follow", "-o", "json")
    assert ok.returncode == 0, ok.stderr
    run = json.loads(ok.stdout)
    assert run["status"] == "succeeded" and "greet | hello world 3" in ok.stderr
    listed = json.loads(service.cli("runs", "list", "-w", greet, "--since", "1h", "-o", "json").stdout)
    assert [r["id"] for r in listed] == [run["id"]]
    assert service.cli("runs", "logs", run["id"], "greet").stdout.count("hello world") == 3
    shown = service.cli("runs", "get", run["id"])
    assert re.search(r"^greet\s+succeeded\s+1\s", shown.stdout, re.M), shown.stdout
    failed = service.cli("runs", "start", service.push(FAIL), "--wait")
    assert failed.returncode == 1 and json.loads(failed.stdout)["status"] == "failed"
    assert service.cli("instances", "list").returncode == 0
    if service.token:
        check_token_errors(service)
    else:  # an open service takes any token, and none
        assert (
            service.cli("workflows", "list", env=service.env(EXECUTOR_API_TOKEN="whatever")).returncode == 0
        )


# Values the CLI refuses before it sends anything (so no service is needed): each is one line
# naming where the bad value came from, exit 2, never a traceback.
BAD_IPV6 = "current: bad\ncontexts: {bad: {server: 'http://[::1'}}\n"
REFUSED: list[tuple[list[str | bytes], dict[str, str], str | None, str]] = [
    (
        ["runs", "list", "--server", "http://[::1"],
        {},
        None,
        "invalid --server: 'http://[::1' is not a valid URL: Invalid IPv6 URL",
    ),
    (["runs", "list"], {}, BAD_IPV6, "invalid server of context bad in "),
    (
        ["runs", "list"],
        {"EXECUTOR_SERVER": "http://h:port"},
        None,
        "invalid EXECUTOR_SERVER: 'http://h:port' is not a valid URL: ",
    ),
    (
        ["runs", "start", "approval", "--input", '{"x": "\\ud800"}'],
        {},
        None,
        "invalid --input: the text is not valid Unicode: it holds a lone surrogate (\\ud800)",
    ),
    (
        ["runs", "list", "--token", "tökén"],
        {},
        None,
        "invalid --token: the token has a character that is not ASCII (character 2); ",
    ),
    (
        ["runs", "list"],
        {"EXECUTOR_API_TOKEN": "line\nbreak"},
        None,
        "invalid EXECUTOR_API_TOKEN: the token has whitespace (character 5); ",
    ),
    (["runs", "get", b"\xff"], {}, None, "invalid RUN: the text is not valid Unicode: it is not UTF-8"),
    (["context", "list"], {}, "contexts: {a: [\n", "contexts.yaml is not valid YAML: "),
]


@pytest.mark.parametrize(("args", "env", "contexts", "expected"), REFUSED)
def test_a_bad_value_is_one_line_and_no_traceback(
    tmp_path: Path, args: list[str | bytes], env: dict[str, str], contexts: str | None, expected: str
) -> None:
    if contexts is not None:
        path = tmp_path / "executor" / "contexts.yaml"
        path.parent.mkdir(mode=0o700)
        path.write_text(contexts)
        path.chmod(0o600)
    result = subprocess.run(
        [*CLI, *args],
        env=clean_env(XDG_CONFIG_HOME=str(tmp_path), **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert expected in one_error_line(result)


def test_a_server_that_is_not_an_executor_is_one_line(tmp_path: Path) -> None:
    """A web server answering JSON of its own (here: an echo) is named, with what was missing."""
    with RecordingServer() as other:
        result = subprocess.run(
            [*CLI, "runs", "list", "--server", other.url],
            env=clean_env(XDG_CONFIG_HOME=str(tmp_path)),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert one_error_line(result).startswith(
        f"executor: error: the answer of {other.url} to GET /runs is not what "
    )
    assert "(no field 'runs'); is it an Executor of the same version?" in result.stderr


# --- contexts -------------------------------------------------------------------------------


def test_contexts_file_is_private_and_precedence_holds(service: Service, tmp_path: Path) -> None:
    config = tmp_path / "xdg"
    dead = f"http://127.0.0.1:{free_port()}"
    base = {**service.env(XDG_CONFIG_HOME=str(config)), "EXECUTOR_SERVER": "", "EXECUTOR_API_TOKEN": ""}
    base = {k: v for k, v in base.items() if v}

    def cli(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return service.cli(*args, env={**base, **extra})

    nothing = cli("context", "list")
    assert nothing.returncode == 0 and nothing.stdout == "" and "no contexts" in nothing.stderr
    token = ("--token", service.token) if service.token else ()
    added = cli("context", "add", "svc", "--server", service.url + "/", *token)
    assert added.returncode == 0, added.stderr
    assert added.stderr == f"added context svc: {service.url} (current)\n"
    path = config / "executor" / "contexts.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert cli("context", "add", "dead", "--server", dead).returncode == 0
    listed = cli("context", "list")
    rows = [line.split() for line in lines(listed.stdout)]
    assert rows[0] == ["NAME", "SERVER", "TOKEN"]
    assert rows[1] == ["dead", dead] and rows[2][:3] == ["*", "svc", service.url]
    if service.token:
        assert service.token not in listed.stdout and rows[2][3] == "set"
    as_json = json.loads(cli("context", "list", "-o", "json").stdout)
    assert [(c["name"], c["current"], c["token"]) for c in as_json] == [
        ("dead", False, False),
        ("svc", True, bool(service.token)),
    ]

    # The current context, then each level above it.
    assert cli("runs", "list").returncode == 0
    assert cli("context", "use", "dead").stderr == f"current context: dead ({dead})\n"
    refused = cli("runs", "list")
    assert refused.returncode == 1 and f"cannot reach the executor at {dead}: " in refused.stderr
    assert cli("runs", "list", "--context", "svc").returncode == 0
    assert cli("runs", "list", EXECUTOR_CONTEXT="svc").returncode == 0
    env_server = cli("runs", "list", "--context", "svc", EXECUTOR_SERVER=dead)
    assert f"cannot reach the executor at {dead}: " in env_server.stderr  # the variable beats the context
    flag = cli("runs", "list", "--server", service.url, "--context", "svc", EXECUTOR_SERVER=dead)
    assert flag.returncode == 0, flag.stderr  # the flag beats the variable
    unknown = cli("runs", "list", "--context", "nope")
    assert unknown.returncode == 2
    assert one_error_line(unknown).startswith("executor: error: invalid --context: no context 'nope' in ")
    if service.token:
        # The flag's token beats the context's; the context's token goes to its server only.
        assert (
            "(the token sent was refused)" in cli("runs", "list", "--context", "svc", "--token", "x").stderr
        )
        elsewhere = service.url.replace("127.0.0.1", "localhost")
        stray = service.cli("runs", "list", "--context", "svc", "--server", elsewhere, env=base, auth=False)
        assert "(no token was sent" in stray.stderr

    path.chmod(0o644)
    for args in (("runs", "list"), ("context", "list")):
        exposed = cli(*args)
        assert exposed.returncode == 2
        assert one_error_line(exposed) == (
            f"executor: error: {path} is open to other users (mode 0644); it holds tokens, so executor "
            f"does not use it: chmod 600 {path}"
        )
    path.chmod(0o600)
    assert cli("context", "remove", "dead").stderr == "removed context dead\n"
    assert cli("context", "use", "dead").returncode == 2
    assert [c["name"] for c in json.loads(cli("context", "list", "-o", "json").stdout)] == ["svc"]

    # Without XDG_CONFIG_HOME: ~/.config/executor/contexts.yaml.
    home = tmp_path / "home"
    home.mkdir()
    plain = {**{k: v for k, v in base.items() if k != "XDG_CONFIG_HOME"}, "HOME": str(home)}
    assert service.cli("context", "add", "x", "--server", dead, env=plain).returncode == 0
    assert (home / ".config" / "executor" / "contexts.yaml").is_file()


# --- the checker itself ---------------------------------------------------------------------


def test_the_request_checker_catches_what_the_document_forbids(service: Service) -> None:
    def check(method: str, path: str, query: str = "", body: bytes = b"", kind: str = "") -> list[str]:
        headers = {"authorization": "Bearer x", **({"content-type": kind} if kind else {})}
        return violations(service.document, Recorded(method, path, query, headers, body))

    assert check("GET", "/runs", "limit=5&status=failed&since=2026-01-01T00:00:00Z") == []
    assert check("GET", "/runs/count", "workflow=x") == []
    assert any("'bogus' is not in the document" in p for p in check("GET", "/runs", "bogus=1"))
    assert any("limit" in p for p in check("GET", "/runs", "limit=0"))
    assert any("since" in p for p in check("GET", "/runs", "since=2026-01-01"))
    assert any("status" in p for p in check("GET", "/runs", "status=fine"))
    assert any(
        "body" in p
        for p in check("POST", "/runs", body=b'{"workflow": "x", "extra": 1}', kind="application/json")
    )
    assert any("required body" in p for p in check("POST", "/runs"))
    assert any(
        "a body where" in p for p in check("POST", "/runs/abc/cancel", body=b"{}", kind="application/json")
    )
    assert any("path id" in p for p in check("GET", "/runs/" + "x" * 65))
    with pytest.raises(AssertionError, match="not in the document"):
        check("DELETE", "/runs/abc")


# --- the frozen binary ----------------------------------------------------------------------


def test_the_binary_drives_the_service_too(service: Service, frozen_binary: Path) -> None:
    quick = service.push(QUICK)
    result = subprocess.run(
        [str(frozen_binary), "runs", "start", quick, "--wait", "-o", "json"],
        env=service.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    service.check_requests()
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "succeeded"
