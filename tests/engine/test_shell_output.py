"""Shell output of any shape, and the environment a command sees."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from executor.actions.shell import CONTINUES, KEEP_BYTES, LOG_LINE_BYTES
from executor.store.records import StepRow, StoredLogLine
from tests.support.engine import Harness, running_engine

TEN_MB = 10 * 1024 * 1024


async def _shell(harness: Harness, with_: dict[str, Any]) -> tuple[str, StepRow]:
    """Run a workflow of one shell step with ``with_``; it must succeed. Returns the run's
    id and the step's row."""
    flow = json.dumps({"name": "output", "steps": [{"id": "s", "action": "shell", "with": with_}]}, indent=1)
    run_id = await harness.submit(flow)
    run, steps = await harness.wait(run_id, timeout=60)
    assert run.status == "succeeded", run.error
    return run_id, steps["s"]


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
    _, step = await _shell(
        harness, {"command": f"head -c {TEN_MB} /dev/zero | tr '\\000' x; echo; echo after"}
    )
    result = step.output
    assert result["stdout"] == "x" * KEEP_BYTES
    lines = await harness.engine.read_logs(step.id)
    assert all(len(x.line.encode()) <= LOG_LINE_BYTES + len(CONTINUES.encode()) for x in lines)
    assert len(lines) == TEN_MB // LOG_LINE_BYTES + 1
    assert _reassembled(lines) == ["x" * TEN_MB, "after"]


async def test_the_kept_stdout_ends_at_a_whole_line_so_a_secret_is_masked_whole(database_url: str) -> None:
    async with running_engine(database_url, secrets={"S": "hunter2-secret"}) as harness:
        # 99-byte lines then one holding the secret across the 1 MiB mark: the kept stdout
        # stops before that line instead of keeping the secret's first half unmasked.
        before = KEEP_BYTES // 100
        script = f"print(('y' * 99 + chr(10)) * {before} + 'z' * 70 + 'hunter2-secret')"
        _, step = await _shell(harness, {"command": [sys.executable, "-c", script]})
        stdout = step.output["stdout"]
        assert stdout == ("y" * 99 + "\n") * before
        assert "hunter" not in stdout


async def test_a_long_line_is_never_cut_inside_a_secret(database_url: str) -> None:
    async with running_engine(database_url, secrets={"S": "hunter2-secret"}) as harness:
        # The secret straddles the first piece's end: cut before it, it is masked whole.
        script = f"print('a' * {LOG_LINE_BYTES - 5} + 'hunter2-secret' + 'b' * 10)"
        _, step = await _shell(harness, {"command": [sys.executable, "-c", script]})
        lines = await harness.engine.read_logs(step.id)
    assert len(lines) == 2
    assert not any(part in line.line for line in lines for part in ("hunter", "secret"))
    assert _reassembled(lines) == ["a" * (LOG_LINE_BYTES - 5) + "***" + "b" * 10]


async def test_a_long_line_is_never_cut_inside_a_character(harness: Harness) -> None:
    _, step = await _shell(harness, {"command": [sys.executable, "-c", "print('xé' * 100000, end='')"]})
    lines = await harness.engine.read_logs(step.id)
    assert len(lines) > 1
    assert _reassembled(lines) == ["xé" * 100000]
    assert "\ufffd" not in step.output["stdout"]


async def test_binary_output_succeeds(harness: Harness) -> None:
    command = r"printf 'a\377\376\000b\200\n'; printf '\000\001' >&2; head -c 100000 /dev/urandom"
    _, step = await _shell(harness, {"command": command})
    stdout = step.output["stdout"]
    assert stdout.startswith("a\ufffd\ufffd\ufffdb\ufffd\n")
    assert "\x00" not in stdout and step.output["stderr"] == "\ufffd\x01"
    lines = await harness.engine.read_logs(step.id)
    assert lines[0].line == "a\ufffd\ufffd\ufffdb\ufffd"


async def test_a_last_line_without_a_newline_is_kept(harness: Harness) -> None:
    _, step = await _shell(harness, {"command": "printf 'one\\ntwo'"})
    assert step.output["stdout"] == "one\ntwo"
    lines = await harness.engine.read_logs(step.id)
    assert [x.line for x in lines] == ["one", "two"]


async def test_commands_do_not_inherit_executors_own_configuration(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXECUTOR_API_TOKEN", "the-token")
    monkeypatch.setenv("EXECUTOR_DATABASE_URL", "postgresql://u:pw@db/x")
    monkeypatch.setenv("EXECUTOR_SECRET_X", "the-secret")
    monkeypatch.setenv("UNRELATED_SETTING", "inherited")
    run_id, step = await _shell(
        harness, {"command": "env", "env": {"MINE": "given", "EXECUTOR_CHOSEN": "by-the-step"}}
    )
    seen = dict(line.split("=", 1) for line in step.output["stdout"].splitlines() if "=" in line)
    assert not {"EXECUTOR_API_TOKEN", "EXECUTOR_DATABASE_URL", "EXECUTOR_SECRET_X"} & seen.keys()
    assert seen["EXECUTOR_RUN_ID"] == run_id and seen["EXECUTOR_STEP_ID"] == "s"
    assert seen["MINE"] == "given" and seen["EXECUTOR_CHOSEN"] == "by-the-step"
    assert seen["UNRELATED_SETTING"] == "inherited" and "PATH" in seen
