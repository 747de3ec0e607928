"""Every remote command explains itself, with an example."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from executor.cli import app
from executor.remote.commands import GROUPS


def _commands() -> list[tuple[str, str]]:
    return [
        (group, command.name or "") for group, sub in GROUPS.items() for command in sub.registered_commands
    ]


def test_every_group_is_registered() -> None:
    assert set(GROUPS) == {"runs", "workflows", "schedules", "instances", "context"}
    assert {command for group, command in _commands() if group == "runs"} == {
        "list",
        "count",
        "get",
        "start",
        "start-batch",
        "cancel",
        "pause",
        "resume",
        "retry",
        "cancel-step",
        "retry-step",
        "signal",
        "logs",
        "artifacts",
    }


@pytest.mark.parametrize(("group", "command"), _commands())
def test_help_has_an_example(group: str, command: str) -> None:
    result = CliRunner().invoke(app, [group, command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"Example: executor {group} {command}" in result.output
    if group != "context":
        assert "--server" in result.output and "EXECUTOR_SERVER" in result.output
        assert "--output" in result.output


def test_a_group_without_a_command_shows_its_help() -> None:
    result = CliRunner().invoke(app, ["runs"], env={"COLUMNS": "200"})
    assert "start" in result.output and "logs" in result.output
    assert isinstance(GROUPS["runs"], typer.Typer)
