"""`executor run` (one workflow, run here to its end) and `executor validate`, as a user types them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from tests.support import client
from tests.support.checks import not_none
from tests.support.process import Server, clean_env, pid_alive, run
from tests.support.waiting import wait_until

# `file:line: path: message`, e.g. `flow.yaml:8: steps[1].needs[0]: unknown step 'missing' ...`
PROBLEM = re.compile(r"^(?P<file>\S+?):(?P<line>\d+): (?P<path>[\w\[\].]+): (?P<message>.+)$")

GREET = """\
name: greet
steps:
  - id: hello
    action: shell
    with: {command: "echo '{\\"word\\": \\"hello\\"}'"}
    outputs: {word: "{{ result.json.word }}"}
  - id: shout
    action: noop
    needs: [hello]
    with: {output: "{{ steps.hello.output.word | upper }}"}
outputs:
  word: "{{ steps.hello.output.word }}"
  shouted: "{{ steps.shout.output }}"
"""

INVALID = """\
name: Not A Name
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


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_a_run_prints_its_outputs_as_json_and_its_progress_on_stderr(
    executor: list[str], workdir: Path
) -> None:
    write(workdir, "greet.yaml", GREET)
    result = run(executor, "run", "greet.yaml", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"word": "hello", "shouted": "HELLO"}
    assert re.search(r"^run \S+ of greet \(version 1\)$", result.stderr, re.M), result.stderr
    for step in ("hello", "shout"):
        assert re.search(rf"^▶ {step}\b", result.stderr, re.M), result.stderr
        assert re.search(rf"^✓ {step}\b", result.stderr, re.M), result.stderr
    assert result.stderr.index("✓ hello") < result.stderr.index("▶ shout")
    assert not (workdir / "executor.db").exists(), "without --database the run is not kept"


def test_a_failing_step_exits_1_and_names_the_step(executor: list[str], workdir: Path) -> None:
    write(
        workdir,
        "failing.yaml",
        """\
name: failing
steps:
  - {id: ok, action: shell, with: {command: "echo fine"}}
  - id: boom
    action: shell
    needs: [ok]
    with: {command: "echo disk full >&2; exit 3"}
  - {id: after, action: noop, needs: [boom]}
""",
    )
    result = run(executor, "run", "failing.yaml", cwd=workdir)
    assert result.returncode == 1, result.stderr
    failure = json.loads(result.stdout)
    assert failure["status"] == "failed"
    assert (
        "boom" in failure["error"] and "exit code 3" in failure["error"] and "disk full" in failure["error"]
    )
    assert re.search(r"^✗ boom\b.*disk full", result.stderr, re.M), result.stderr
    assert re.search(r"^- after\b.*skipped", result.stderr, re.M), result.stderr
    assert "Traceback" not in result.stderr


INPUTS = """\
name: inputs
inputs:
  type: object
  required: [a]
  properties:
    a: {type: integer}
    b: {type: integer}
    c: {type: string}
steps:
  - id: show
    action: shell
    with: {command: "echo {{ inputs.a + inputs.b }} $C", env: {C: "{{ inputs.c }}"}}
outputs:
  input: "{{ inputs }}"
  printed: "{{ steps.show.output.stdout | trim }}"
"""


def test_input_and_set_values_reach_the_steps(executor: list[str], workdir: Path) -> None:
    write(workdir, "inputs.yaml", INPUTS)
    result = run(
        executor, "run", "inputs.yaml", "--input", '{"a": 1}', "-i", "b=2", "-i", "c=text", cwd=workdir
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"input": {"a": 1, "b": 2, "c": "text"}, "printed": "3 text"}


def test_set_overrides_input(executor: list[str], workdir: Path) -> None:
    write(workdir, "inputs.yaml", INPUTS)
    result = run(
        executor, "run", "inputs.yaml", "--input", '{"a": 1, "b": 5, "c": "x"}', "-i", "a=10", cwd=workdir
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["printed"] == "15 x"


def test_an_input_that_breaks_the_schema_is_refused_naming_its_path(
    executor: list[str], workdir: Path
) -> None:
    write(workdir, "inputs.yaml", INPUTS)
    result = run(executor, "run", "inputs.yaml", "--input", '{"a": "one"}', "-i", "b=2", cwd=workdir)
    assert result.returncode != 0
    assert "$.a" in result.stderr and "'one' is not of type 'integer'" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    missing = run(executor, "run", "inputs.yaml", "-i", "b=2", cwd=workdir)
    assert missing.returncode != 0
    assert "'a' is a required property" in missing.stderr and "Traceback" not in missing.stderr


@pytest.mark.parametrize("value", ["{a: 1}", "not json", "[1, 2]"])
def test_input_that_is_not_a_json_object_exits_2_naming_input(
    executor: list[str], workdir: Path, value: str
) -> None:
    write(workdir, "greet.yaml", GREET)
    result = run(executor, "run", "greet.yaml", "--input", value, cwd=workdir)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("executor: error: invalid --input"), result.stderr
    assert result.stdout == ""


def test_an_invalid_workflow_lists_every_problem_with_its_line(executor: list[str], workdir: Path) -> None:
    write(workdir, "broken.yaml", INVALID)
    result = run(executor, "run", "broken.yaml", cwd=workdir)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    problems = [m.groupdict() for line in result.stderr.splitlines() if (m := PROBLEM.match(line.strip()))]
    assert [(p["file"], p["line"], p["path"]) for p in problems] == [
        ("broken.yaml", "1", "name"),
        ("broken.yaml", "4", "steps[0].action"),
        ("broken.yaml", "8", "steps[1].needs[0]"),
        ("broken.yaml", "9", "steps[1].retry.delay"),
    ], result.stderr
    assert "unknown action 'shel'" in result.stderr and "unknown step 'missing'" in result.stderr


def test_a_missing_file_exits_2_naming_flow_yaml(executor: list[str], workdir: Path) -> None:
    result = run(executor, "run", "nowhere.yaml", cwd=workdir)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "FLOW.yaml" in lines[0] and "nowhere.yaml" in lines[0], result.stderr


def test_database_keeps_the_run(executor: list[str], workdir: Path) -> None:
    write(workdir, "greet.yaml", GREET)
    url = f"sqlite:///{workdir / 'keep.db'}"
    result = run(executor, "run", "greet.yaml", "--database", url, cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert (workdir / "keep.db").is_file()
    status = run(executor, "migrate", "--status", "--database", url, cwd=workdir)
    assert status.returncode == 0 and "schema is current" in status.stdout, status.stdout + status.stderr
    run_id = not_none(re.search(r"^run (\S+) of greet", result.stderr, re.M)).group(1)
    [(kept, steps)] = client.runs(url, [run_id])
    assert kept.status == "succeeded" and kept.outputs == json.loads(result.stdout)
    assert sorted((s.step_id, s.status) for s in steps) == [("hello", "succeeded"), ("shout", "succeeded")]


def test_workflows_folder_lets_a_step_call_another_workflow(executor: list[str], workdir: Path) -> None:
    library = workdir / "library"
    library.mkdir()
    write(
        library,
        "double.yaml",
        """\
name: double
inputs: {type: object, required: [n], properties: {n: {type: integer}}}
steps:
  - {id: calc, action: noop, with: {output: "{{ inputs.n * 2 }}"}}
outputs: {doubled: "{{ steps.calc.output }}"}
""",
    )
    write(
        workdir,
        "parent.yaml",
        """\
name: parent
steps:
  - id: child
    action: workflow
    with: {name: double, input: {n: 21}}
outputs: {answer: "{{ steps.child.output.doubled }}"}
""",
    )
    result = run(executor, "run", "parent.yaml", "--workflows", "library", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"answer": 42}
    assert "double/calc" in result.stderr

    alone = run(executor, "run", "parent.yaml", cwd=workdir)
    assert alone.returncode == 1
    assert json.loads(alone.stdout)["status"] == "failed" and "double" in alone.stdout


def test_validate_reports_each_problem_on_its_own_line(executor: list[str], workdir: Path) -> None:
    write(workdir, "good.yaml", GREET)
    write(workdir, "bad.yaml", INVALID)
    result = run(executor, "validate", "good.yaml", "bad.yaml", cwd=workdir)
    assert result.returncode == 1
    assert result.stdout.strip().splitlines() == ["good.yaml: ok (greet, 2 steps)"]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 4, result.stderr
    for line in lines:
        match = PROBLEM.match(line)
        assert match and match["file"] == "bad.yaml", line
    assert "Traceback" not in result.stderr


def test_validate_exits_0_when_all_are_valid(executor: list[str], workdir: Path) -> None:
    write(workdir, "one.yaml", GREET)
    write(workdir, "two.yaml", INPUTS)
    result = run(executor, "validate", "one.yaml", "two.yaml", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines() == [
        "one.yaml: ok (greet, 2 steps)",
        "two.yaml: ok (inputs, 1 steps)",
    ]
    assert result.stderr == ""


def test_validate_reports_a_missing_file(executor: list[str], workdir: Path) -> None:
    write(workdir, "one.yaml", GREET)
    result = run(executor, "validate", "one.yaml", "ghost.yaml", cwd=workdir)
    assert result.returncode == 1
    assert "one.yaml: ok" in result.stdout
    assert "ghost.yaml" in result.stderr and "Traceback" not in result.stderr


def _started(executor: list[str], workdir: Path, *args: str) -> tuple[subprocess.Popen[str], Path]:
    stderr = workdir / "stderr.txt"
    with stderr.open("w") as err:
        process = subprocess.Popen(
            [*executor, "run", *args],
            cwd=workdir,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            start_new_session=True,
        )
    return process, stderr


def test_ctrl_c_exits_130_and_the_run_continues_later(
    executor: list[str], workdir: Path, servers: list[Server]
) -> None:
    flag, pid_file = workdir / "flag", workdir / "pid"
    write(
        workdir,
        "slow.yaml",
        f"""\
name: slow
steps:
  - id: nap
    action: shell
    with: {{command: "echo $$ > {pid_file}; if [ -e {flag} ]; then echo rested; else sleep 60; fi"}}
    outputs: {{said: "{{{{ result.stdout | trim }}}}"}}
outputs: {{said: "{{{{ steps.nap.output.said }}}}"}}
""",
    )
    url = f"sqlite:///{workdir / 'k.db'}"
    process, stderr = _started(executor, workdir, "slow.yaml", "--database", url, "--stop-timeout", "1s")
    try:
        wait_until(
            lambda: "▶ nap" in stderr.read_text() and pid_file.exists(), timeout=30, what="nap to start"
        )
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    assert process.returncode == 130, stderr.read_text()
    interrupted = json.loads(out)
    assert interrupted["status"] == "running"
    run_id = interrupted["run"]
    assert re.search(rf"interrupted: run {run_id} .*continues", stderr.read_text()), stderr.read_text()
    assert "Traceback" not in stderr.read_text()
    shell = int(pid_file.read_text())
    wait_until(lambda: not pid_alive(shell), what="the interrupted command to be stopped")

    # "It continues when executor runs on this database": a service picks it up.
    flag.touch()
    server = Server(executor, workdir, ["--database", url, "--poll-interval", "100ms"], clean_env())
    servers.append(server)
    server.start(new_session=True).wait_running()
    [(record, _)] = wait_until(
        lambda: [(r, s) for r, s in client.runs(url, [run_id]) if r.status == "succeeded"],
        timeout=30,
        what="the interrupted run to finish under the service",
    )
    assert record.outputs == {"said": "rested"}
    server.signal()
    assert server.wait_exit(30) == 0


def test_one_ctrl_c_lets_the_running_step_finish(executor: list[str], workdir: Path) -> None:
    """A terminal's Ctrl-C sends SIGINT to the whole foreground process group, once."""
    started = workdir / "started"
    write(
        workdir,
        "steady.yaml",
        f"""\
name: steady
steps:
  - id: work
    action: shell
    with: {{command: "touch {started}; sleep 2; echo finished"}}
    outputs: {{said: "{{{{ result.stdout | trim }}}}"}}
outputs: {{said: "{{{{ steps.work.output.said }}}}"}}
""",
    )
    process, stderr = _started(executor, workdir, "steady.yaml", "--stop-timeout", "30s")
    try:
        wait_until(lambda: started.exists(), timeout=30, what="the step to start")
        os.killpg(process.pid, signal.SIGINT)
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    assert "stopping at once" not in stderr.read_text(), stderr.read_text()
    assert process.returncode == 0, stderr.read_text()
    assert json.loads(out) == {"said": "finished"}


def test_progress_names_a_first_for_each_step_by_its_id(executor: list[str], workdir: Path) -> None:
    write(
        workdir,
        "fanny.yaml",
        """\
name: fanny
steps:
  - id: each
    action: shell
    for_each: [a, b]
    with: {command: "echo {{ item }}"}
""",
    )
    result = run(executor, "run", "fanny.yaml", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "fanny/" not in result.stderr, result.stderr
    assert re.search(r"^▶ each\s*$", result.stderr, re.M), result.stderr


def test_the_run_is_named_before_the_steps_its_submission_ran(executor: list[str], workdir: Path) -> None:
    # Noops run in the transaction that submits the run (`engine.inline`): their lines come
    # after the one naming the run all the same.
    write(
        workdir,
        "quick.yaml",
        "name: quick\nsteps:\n  - {id: a, action: noop}\n  - {id: b, action: noop, needs: [a]}\n",
    )
    result = run(executor, "run", "quick.yaml", cwd=workdir)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert re.match(r"^run \S+ of quick \(version 1\)$", lines[0]), result.stderr
    assert [line.split()[:2] for line in lines[1:]] == [["▶", "a"], ["✓", "a"], ["▶", "b"], ["✓", "b"]]


def test_progress_never_shows_a_negative_duration(executor: list[str], workdir: Path) -> None:
    library = workdir / "library"
    library.mkdir()
    write(
        library,
        "napper.yaml",
        "name: napper\nsteps:\n  - {id: nap, action: sleep, with: {duration: 300ms}}\n",
    )
    write(
        workdir,
        "caller.yaml",
        "name: caller\nsteps:\n  - {id: call, action: workflow, with: {name: napper}}\n",
    )
    result = run(executor, "run", "caller.yaml", "--workflows", "library", cwd=workdir)
    assert result.returncode == 0, result.stderr
    done = re.search(r"^✓ call\s+(\S+)s$", result.stderr, re.M)
    assert done, result.stderr
    assert not done.group(1).startswith("-"), result.stderr


def test_progress_says_which_key_a_step_or_a_run_waits_for(executor: list[str], workdir: Path) -> None:
    """Three steps share a mutex and two child runs a concurrency key; all hold on until
    ``go`` exists, so the progress shows each waiter's key and place in line."""
    hold = "while [ ! -e go ]; do sleep 0.05; done"
    library = workdir / "library"
    library.mkdir()
    write(
        library,
        "posting.yaml",
        f"""\
name: posting
concurrency: {{key: books, limit: 1}}
steps:
  - {{id: post, action: shell, with: {{command: "{hold}"}}}}
""",
    )
    steps = "".join(
        f'  - {{id: {name}, action: shell, mutex: ledger, with: {{command: "{hold}"}}}}\n'
        for name in ("first", "second", "third")
    )
    write(
        workdir,
        "books.yaml",
        f"name: books\nsteps:\n{steps}  - {{id: each, action: workflow, for_each: [1, 2], with: {{name: posting}}}}\n",
    )
    process, stderr = _started(executor, workdir, "books.yaml", "--workflows", "library")
    step_line = re.compile(r"^⏸ (first|second|third)\s+waiting for mutex ledger \((1st|2nd) in line\)$", re.M)
    run_line = re.compile(r"^⏸ posting\s+waiting for concurrency key books \(1st in line\)$", re.M)
    try:
        wait_until(
            lambda: len(step_line.findall(stderr.read_text())) == 2 and run_line.search(stderr.read_text()),
            timeout=30,
            what="the waiters' lines",
        )
        (workdir / "go").touch()
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    progress = stderr.read_text()
    assert process.returncode == 0, progress
    waiters = step_line.findall(progress)
    assert sorted(place for _, place in waiters) == ["1st", "2nd"], progress
    assert len({step for step, _ in waiters}) == 2, progress
    assert not re.search(r"^⏸ (first|second|third)\s+waiting$", progress, re.M), progress


def test_save_artifacts_copies_the_runs_files_before_its_temporary_database_goes(
    executor: list[str], workdir: Path
) -> None:
    flow = write(
        workdir,
        "arts.yaml",
        """\
name: arts
steps:
  - id: build
    action: shell
    with: {command: "mkdir -p $EXECUTOR_ARTIFACTS_DIR/html; printf report > $EXECUTOR_ARTIFACTS_DIR/html/index.html"}
  - id: each
    action: shell
    for_each: [a, b]
    with: {command: "printf '{{ item }}' > $EXECUTOR_ARTIFACTS_DIR/item.txt"}
""",
    )
    result = run(executor, "run", str(flow), "--save-artifacts", str(workdir / "out"), cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "3 artifact(s), 8 bytes, saved in" in result.stderr
    saved = {
        p.relative_to(workdir / "out").as_posix(): p.read_text()
        for p in (workdir / "out").rglob("*")
        if p.is_file()
    }
    assert saved == {"build/html/index.html": "report", "each/0/item.txt": "a", "each/1/item.txt": "b"}
