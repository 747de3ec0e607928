"""`executor serve`, the command a process runs nearly every time it starts, without the
command line's machinery when it needs none.

The command line (typer) builds every command and checks every option through pydantic
before it runs one: more time than the rest of the start together. So `serve_arguments` reads
the common case itself: ``[serve] --flag VALUE | --flag=VALUE | --switch ...`` with the flags
of `SERVE` and their ``EXECUTOR_*`` variables, giving exactly what typer gives `serve` (a test
compares the two). Anything else (help, another command, an unknown flag, a value that looks
like a flag, a variable typer would refuse) gets None, and `executor.cli` answers it as
before. Either way `serve` runs the service.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from typing import NoReturn

from executor import frozen, log
from executor.errors import ExecutorError
from executor.settings import parse_settings, setting

# The settings `executor serve` takes, in the order of its --help.
SERVE = (
    "database",
    "host",
    "port",
    "stop_timeout",
    "drain_delay",
    "poll_interval",
    "concurrency",
    "workers",
    "lease",
    "heartbeat_timeout",
    "max_lost_attempts",
    "workflows",
    "pass_env",
    "llm_base_url",
    "llm_prices",
    "render_timeout",
    "pool_size",
    "max_body",
    "artifacts_dir",
    "artifact_max_file",
    "artifact_max_run",
    "api_token",
    "log_level",
    "log_format",
    "insecure",
    "skip_migrations",
    "retention",
)

Given = dict[str, str | bool | None]

# How typer reads a switch's variable (anything else it refuses, with its own message).
_ON = frozenset({"1", "true", "t", "yes", "y", "on"})
_OFF = frozenset({"0", "false", "f", "no", "n", "off"})


def serve_arguments(args: Sequence[str], environ: Mapping[str, str] | None = None) -> Given | None:
    """The raw values typer would give `serve` for ``args`` (the command line after the
    program's name), or None when ``args`` are not the plain case this reads."""
    environ = os.environ if environ is None else environ
    if args[:1] == ["serve"]:
        args = args[1:]
    options = {setting(name, "serve").flag: setting(name, "serve") for name in SERVE}
    found: dict[str, str | bool] = {}
    index = 0
    while index < len(args):
        flag, equals, value = args[index].partition("=")
        option = options.get(flag)
        if option is None:
            return None
        if option.is_switch:
            if equals:
                return None
            found[option.name] = True
        elif equals:
            found[option.name] = value
        else:
            index += 1
            if index == len(args) or args[index].startswith("-"):
                return None
            found[option.name] = args[index]
        index += 1
    given: Given = {}
    for option in options.values():
        raw = environ.get(option.env) or None  # typer ignores an empty variable
        if option.name in found:
            given[option.name] = found[option.name]
        elif not option.is_switch:
            given[option.name] = raw if raw is not None else option.default or None
        elif raw is None:
            given[option.name] = option.read(None)
        elif raw.strip().lower() in _ON | _OFF:
            given[option.name] = raw.strip().lower() in _ON
        else:
            return None
    return given


def start(given: Mapping[str, str | bool | None]) -> None:
    """The process's start when `serve_arguments` read its command line: `executor.cli`'s,
    but for the log, configured once the settings are read (nothing logs before; each
    configuration costs loguru milliseconds)."""
    frozen.adopt_bootloader()
    serve(given)


def serve(given: Mapping[str, str | bool | None]) -> None:
    """Serve until stopped: one `Service`, or with ``--workers`` N of them (`Workers`)."""
    from executor.service import Service

    try:
        settings = parse_settings(stderr_is_tty=sys.stderr.isatty(), **given)
        log.configure(settings.log_level, settings.log_format)
        if settings.workers > 1:
            from executor.workers import Workers

            code = asyncio.run(Workers(settings, given).run())
        else:
            # Migrates first; a signal at any point of the start stops it (exit 0).
            asyncio.run(Service(settings).run())
            code = 0
    except ExecutorError as exc:
        fail(exc)
    if code:
        raise SystemExit(code)


def fail(exc: ExecutorError) -> NoReturn:
    """Say what went wrong on one line and exit with the error's code."""
    print(f"executor: error: {exc.message}", file=sys.stderr, flush=True)
    raise SystemExit(exc.exit_code)
