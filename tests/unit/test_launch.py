"""`executor serve`'s command line read without typer (`executor.launch`): whenever it reads
one, it gives `serve` exactly what typer gives it; anything it does not read is left to typer."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from executor import cli, launch
from executor.settings import SETTINGS

Given = dict[str, str | bool | None]


@contextmanager
def capturing() -> Iterator[list[Given]]:
    """What typer's `serve` command passes on to `launch.serve`, instead of serving."""
    calls: list[Given] = []
    original = launch.serve
    launch.serve = lambda given: calls.append(dict(given))
    try:
        yield calls
    finally:
        launch.serve = original


def through_typer(args: list[str], environ: Mapping[str, str]) -> Given | None:
    """What typer gives `serve` for ``args`` (as `cli.main` hands them over), or None when
    it refuses them (or answers them itself, like --help)."""
    if args[:1] != ["serve"]:
        args = ["serve", *args]
    # Only ``environ``: every other variable of a setting is unset for the call.
    env: dict[str, str | None] = {setting.env: None for setting in SETTINGS.values()}
    env.update(environ)
    with capturing() as calls:
        result = CliRunner().invoke(cli.app, args, env=env)
    if result.exit_code != 0 or not calls:
        return None
    assert len(calls) == 1
    return calls[0]


READ = [
    ([], {}),
    (["serve"], {}),
    (["--port", "0", "--log-format", "json"], {}),
    (
        [
            "serve",
            "--database",
            "sqlite:///x.db",
            "--port",
            "8081",
            "--skip-migrations",
            "--log-level",
            "warning",
        ],
        {},
    ),
    (["--port=9", "--port", "10"], {}),  # the last one counts
    (["--insecure", "--insecure", "--host", "0.0.0.0"], {}),
    (["--port", ""], {}),
    (["--port="], {}),
    (["--api-token", "a,b", "--pass-env", "EXECUTOR_X", "--workers", "auto", "--concurrency", "4"], {}),
    ([], {"EXECUTOR_PORT": "7", "EXECUTOR_DATABASE_URL": "postgresql://u@h/db"}),
    (["--port", "9"], {"EXECUTOR_PORT": "7"}),  # the flag beats the variable
    ([], {"EXECUTOR_PORT": ""}),  # an empty variable is none
    *[([], {"EXECUTOR_INSECURE": value}) for value in ("1", "true", " TRUE ", "yes", "y", "t", "on", "On")],
    *[([], {"EXECUTOR_SKIP_MIGRATIONS": value}) for value in ("0", "false", "f", "no", "n", "off", "")],
    (["--insecure"], {"EXECUTOR_INSECURE": "off"}),
]


@pytest.mark.parametrize(("args", "environ"), READ)
def test_the_plain_command_lines_are_read_as_typer_reads_them(
    args: list[str], environ: dict[str, str]
) -> None:
    read = launch.serve_arguments(args, environ)
    assert read is not None, "the plain case is read without typer"
    assert read == through_typer(args, environ)


LEFT_TO_TYPER = [
    (["--help"], {}),
    (["-h"], {}),
    (["serve", "--help"], {}),
    (["--version"], {}),
    (["version"], {}),
    (["migrate"], {}),
    (["runs", "list"], {}),
    (["serve", "extra"], {}),
    (["--port"], {}),
    (["--port", "--host", "x"], {}),  # typer takes "--host" as the port; this is a mistake
    (["--port", "-1"], {}),
    (["--por", "9"], {}),
    (["--insecure=1"], {}),
    (["--lock-timeout", "1s"], {}),  # migrate's, not serve's
    (["--", "--port", "9"], {}),
    ([], {"EXECUTOR_INSECURE": "maybe"}),
]


@pytest.mark.parametrize(("args", "environ"), LEFT_TO_TYPER)
def test_anything_else_is_left_to_typer(args: list[str], environ: dict[str, str]) -> None:
    assert launch.serve_arguments(args, environ) is None


def test_serve_takes_the_settings_launch_reads() -> None:
    command = cli.typer.main.get_command(cli.app).commands["serve"]  # type: ignore[attr-defined]
    flags = {flag for param in command.params for flag in param.opts}
    assert flags == {SETTINGS[name].flag for name in launch.SERVE}


FLAGS = [SETTINGS[name].flag for name in launch.SERVE]
TOKENS = st.one_of(
    st.sampled_from(FLAGS),
    st.sampled_from(FLAGS).map(lambda flag: f"{flag}=x"),
    st.sampled_from(["0", "7", "x", "", "-1", "off", "on", "sqlite:///a.db", "a=b"]),
    st.sampled_from(["serve", "--help", "-h", "--version", "migrate", "--lock-timeout", "--", "-x"]),
)
VARIABLES = st.dictionaries(
    st.sampled_from(["EXECUTOR_PORT", "EXECUTOR_HOST", "EXECUTOR_INSECURE", "EXECUTOR_SKIP_MIGRATIONS"]),
    st.sampled_from(["", "1", "7", "off", "yes", "maybe", " On ", "x"]),
    max_size=3,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(args=st.lists(TOKENS, max_size=6), environ=VARIABLES)
def test_whatever_launch_reads_typer_reads_the_same(args: list[str], environ: dict[str, str]) -> None:
    read = launch.serve_arguments(args, environ)
    if read is not None:
        assert read == through_typer(args, environ)
