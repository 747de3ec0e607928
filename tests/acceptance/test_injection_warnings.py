"""Outside values pasted into a shell script are warned about wherever a workflow is loaded:
`executor validate` (exit code unchanged, 1 with --strict), `executor run`, and the
`--workflows` folder of `executor serve`, each warning with its file, line and path."""

from __future__ import annotations

from pathlib import Path

from tests.support.process import Server, clean_env, run

RISKY = """\
name: risky
steps:
  - id: greet
    action: shell
    with:
      command: "echo hello {{ inputs.who }}"
"""
WARNING = "risky.yaml:6: warning: steps[0].with.command: inputs.who is pasted into a shell script"


def test_validate_prints_warnings_and_fails_on_them_only_when_strict(
    executor: list[str], workdir: Path
) -> None:
    (workdir / "risky.yaml").write_text(RISKY)
    (workdir / "safe.yaml").write_text(
        RISKY.replace('"echo hello {{ inputs.who }}"', '[echo, "hello {{ inputs.who }}"]')
    )
    result = run(executor, "validate", "risky.yaml", "safe.yaml", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "risky.yaml: ok (risky, 1 steps, 1 warning)" in result.stdout
    assert "safe.yaml: ok (risky, 1 steps)" in result.stdout
    [line] = result.stderr.splitlines()
    assert line.startswith(WARNING) and "argv list" in line and "env" in line
    strict = run(executor, "validate", "--strict", "risky.yaml", cwd=workdir)
    assert strict.returncode == 1 and strict.stderr.startswith(WARNING)
    assert run(executor, "validate", "--strict", "safe.yaml", cwd=workdir).returncode == 0


def test_run_prints_the_warnings_and_runs_all_the_same(executor: list[str], workdir: Path) -> None:
    (workdir / "risky.yaml").write_text(RISKY)
    result = run(executor, "run", "risky.yaml", "-i", "who=world", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith(WARNING)


def test_a_workflows_folder_logs_the_warnings_and_registers_the_workflow(
    executor: list[str], workdir: Path, servers: list[Server]
) -> None:
    flows = workdir / "flows"
    flows.mkdir()
    (flows / "risky.yaml").write_text(RISKY)
    server = Server(executor, workdir, ["--workflows", "flows"], clean_env())
    servers.append(server)
    server.start().wait_running()
    server.signal()
    assert server.wait_exit(30) == 0
    lines = server.log_lines()
    [warning] = [line for line in lines if line["level"] == "warning"]
    assert (warning["file"], warning["line"], warning["path"]) == (
        "flows/risky.yaml",
        6,
        "steps[0].with.command",
    )
    assert "inputs.who is pasted into a shell script" in warning["message"]
    assert any(line["message"] == "registered workflow version" for line in lines)
