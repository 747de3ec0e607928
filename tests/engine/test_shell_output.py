"""Shell output of any shape, and the environment a command sees."""

from __future__ import annotations

import sys

import pytest

from executor.actions.shell import CONTINUES, KEEP_BYTES, LOG_LINE_BYTES
from executor.store.records import StoredLogLine
from tests.support.engine import Harness, running_engine

TEN_MB = 10 * 1024 * 1024


def _reassembled(lines: list[StoredLogLine]) -> list[str]:
    """The log's lines with their marked pieces joined again."""
    whole: list[str] = []
    piece = ""
    for line in lines:
        if line.line.endswith(CONTINUES):
            piece += line.line.removesuffix(CONTINUES)
        else:
            whole.append(piece + line.line)
            piece = ""
    assert not piece, "the last piece of a line is not marked"
    return whole


async def test_a_10_mb_line_is_kept_to_1_mib_and_logged_in_marked_pieces(harness: Harness) -> None:
    run_id = await harness.submit(f"""
name: long_line
steps:
  - id: long
    action: shell
    with: {{command: "head -c {TEN_MB} /dev/zero | tr '\\\\000' x; echo; echo after"}}
""")
    run, steps = await harness.wait(run_id, timeout=60)
    assert run.status == "succeeded", run.error
    result = steps["long"].output
    assert result["stdout"] == "x" * KEEP_BYTES
    lines = await harness.engine.read_logs(steps["long"].id)
    assert all(len(x.line.encode()) <= LOG_LINE_BYTES + len(CONTINUES.encode()) for x in lines)
    assert len(lines) == TEN_MB // LOG_LINE_BYTES + 1
    assert _reassembled(lines) == ["x" * TEN_MB, "after"]


async def test_the_kept_stdout_ends_at_a_whole_line_so_a_secret_is_masked_whole(database_url: str) -> None:
    async with running_engine(database_url, secrets={"S": "hunter2-secret"}) as harness:
        # 99-byte lines then one holding the secret across the 1 MiB mark: the kept stdout
        # stops before that line instead of keeping the secret's first half unmasked.
        before = KEEP_BYTES // 100
        run_id = await harness.submit(f"""
name: many_lines
steps:
  - id: lines
    action: shell
    with: {{command: [{sys.executable}, -c, "print(('y' * 99 + chr(10)) * {before} + 'z' * 70 + 'hunter2-secret')"]}}
""")
        run, steps = await harness.wait(run_id)
        assert run.status == "succeeded", run.error
        stdout = steps["lines"].output["stdout"]
        assert stdout == ("y" * 99 + "\n") * before
        assert "hunter" not in stdout


async def test_a_long_line_is_never_cut_inside_a_character(harness: Harness) -> None:
    run_id = await harness.submit(f"""
name: long_utf8
steps:
  - id: long
    action: shell
    with: {{command: [{sys.executable}, -c, "print('xé' * 100000, end='')"]}}
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    lines = await harness.engine.read_logs(steps["long"].id)
    assert len(lines) > 1
    assert _reassembled(lines) == ["xé" * 100000]
    assert "\ufffd" not in steps["long"].output["stdout"]


async def test_binary_output_succeeds(harness: Harness) -> None:
    run_id = await harness.submit(r"""
name: binary
steps:
  - id: bin
    action: shell
    with: {command: "printf 'a\\377\\376\\000b\\200\\n'; printf '\\000\\001' >&2; head -c 100000 /dev/urandom"}
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    stdout = steps["bin"].output["stdout"]
    assert stdout.startswith("a\ufffd\ufffd\ufffdb\ufffd\n")
    assert "\x00" not in stdout and steps["bin"].output["stderr"] == "\ufffd\x01"
    lines = await harness.engine.read_logs(steps["bin"].id)
    assert lines[0].line == "a\ufffd\ufffd\ufffdb\ufffd"


async def test_a_last_line_without_a_newline_is_kept(harness: Harness) -> None:
    run_id = await harness.submit("""
name: no_newline
steps:
  - {id: tail, action: shell, with: {command: "printf 'one\\ntwo'"}}
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    assert steps["tail"].output["stdout"] == "one\ntwo"
    lines = await harness.engine.read_logs(steps["tail"].id)
    assert [x.line for x in lines] == ["one", "two"]


async def test_commands_do_not_inherit_executors_own_configuration(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXECUTOR_API_TOKEN", "the-token")
    monkeypatch.setenv("EXECUTOR_DATABASE_URL", "postgresql://u:pw@db/x")
    monkeypatch.setenv("EXECUTOR_SECRET_X", "the-secret")
    monkeypatch.setenv("UNRELATED_SETTING", "inherited")
    run_id = await harness.submit("""
name: environment
steps:
  - {id: env, action: shell, with: {command: env, env: {MINE: given, EXECUTOR_CHOSEN: by-the-step}}}
""")
    run, steps = await harness.wait(run_id)
    assert run.status == "succeeded", run.error
    seen = dict(line.split("=", 1) for line in steps["env"].output["stdout"].splitlines() if "=" in line)
    assert not {"EXECUTOR_API_TOKEN", "EXECUTOR_DATABASE_URL", "EXECUTOR_SECRET_X"} & seen.keys()
    assert seen["EXECUTOR_RUN_ID"] == run_id and seen["EXECUTOR_STEP_ID"] == "env"
    assert seen["MINE"] == "given" and seen["EXECUTOR_CHOSEN"] == "by-the-step"
    assert seen["UNRELATED_SETTING"] == "inherited" and "PATH" in seen
