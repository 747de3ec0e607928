"""The `executor` command line: serve (the default), migrate, run, validate, backup, version.

The options of settings are built from their declaration in `executor.settings`
(`settings_options`). They arrive as raw strings (from a flag or its ``EXECUTOR_*``
variable) and are parsed once, by `executor.settings`, so that a bad value fails with one
line naming the setting and exit code 2, whichever way it was given.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from executor import __version__, frozen, launch, log
from executor.errors import ConfigError, ExecutorError
from executor.lifecycle import EXIT_INTERRUPTED, Interrupted, Lifecycle
from executor.remote.commands import GROUPS as REMOTE_GROUPS
from executor.settings import Setting, parse_settings, setting

if TYPE_CHECKING:
    from executor.migrate import Stop
    from executor.workflow import Workflow

VALIDATE_TICKS = 5  # next fire times `executor validate` prints per schedule

app = typer.Typer(
    name="executor",
    help=(
        "Executor: a durable workflow executor.\n\n"
        "Without a command, `executor` serves (the same as `executor serve`): it applies "
        "pending migrations, then runs the HTTP API and the engine until SIGTERM or SIGINT."
    ),
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

COMMANDS = {"serve", "migrate", "version", "run", "validate", "backup", "purge"}


F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def settings_options(command: str, *names: str) -> Callable[[F], F]:
    """Give ``command`` an option for each named setting, built from its row in
    `executor.settings` (flag, variable, help, metavar and default, with the command's
    overrides); the raw values arrive in the command's ``**given``, in this order in --help."""

    def decorate(func: F) -> F:
        # Evaluated: typer takes this signature as it is, and our annotations are strings.
        signature = inspect.signature(func, eval_str=True)
        own = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        options = [_parameter(setting(name, command)) for name in names]
        func.__signature__ = signature.replace(parameters=[*own, *options])  # type: ignore[attr-defined]
        return func

    return decorate


def _parameter(option: Setting) -> inspect.Parameter:
    # Typer takes an `Annotated` option's default from the parameter, not from `typer.Option`.
    if option.is_switch:
        info = typer.Option(option.flag, envvar=option.env, help=option.help)
        annotation: Any = Annotated[bool, info]
        default: Any = option.read(None)
    else:
        info = typer.Option(
            option.flag,
            envvar=option.env,
            metavar=option.metavar,
            help=option.help,
            show_default=bool(option.default),
        )
        annotation = Annotated[str | None, info]
        default = option.default or None  # "" is none: no value, nothing shown as the default
    return inspect.Parameter(
        option.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


def _fail(exc: ExecutorError) -> NoReturn:
    typer.echo(f"executor: error: {exc.message}", err=True)
    raise typer.Exit(exc.exit_code)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"executor {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Executor: a durable workflow executor."""


@app.command()
@settings_options("serve", *launch.SERVE)
def serve(**given: str | bool | None) -> None:
    """Serve the HTTP API and run workflows until SIGTERM or SIGINT (the default command)."""
    launch.serve(given)


@app.command(name="migrate")
@settings_options("migrate", "database", "lock_timeout", "log_level", "log_format")
def migrate_command(
    status: Annotated[
        bool,
        typer.Option(
            "--status",
            help="List applied and pending migrations; exit 0 when the schema is current, "
            "1 when migrations are pending.",
        ),
    ] = False,
    break_lock: Annotated[
        bool,
        typer.Option(
            "--break-lock",
            help="Remove the migration lock left by a killed `executor migrate`, then migrate. "
            "Only when no other `executor migrate` is running.",
        ),
    ] = False,
    **given: str | bool | None,
) -> None:
    """Apply pending migrations and exit. Safe to run from several processes at once.

    Exit 130 when SIGTERM or SIGINT stops it first: the migrations applied until then are
    recorded, the others still pending, and the lock released."""
    from executor import migrate

    try:
        settings = parse_settings(stderr_is_tty=sys.stderr.isatty(), **given)
        log.configure(settings.log_level, settings.log_format)
        database = settings.database
        if status:
            current = _until_stopped("reading the migration status", lambda _: migrate.status(database))
            for name in current.applied:
                typer.echo(f"applied  {name}")
            for name in current.pending:
                typer.echo(f"pending  {name}")
            for name in current.unknown:
                typer.echo(f"unknown  {name} (applied by a newer executor)")
            if current.current:
                typer.echo("schema is current")
                return
            raise typer.Exit(1)

        def apply(stop: migrate.Stop) -> list[str]:
            if break_lock:
                stop.at("breaking the migration lock")
                migrate.break_lock(database)
            return migrate.apply(database, settings.lock_timeout, stop)

        applied = _until_stopped("migrating", apply)
    except ExecutorError as exc:
        _fail(exc)
    except Interrupted:
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if applied:
        for name in applied:
            typer.echo(f"applied  {name}")
    else:
        typer.echo("nothing to apply")


def _until_stopped(phase: str, work: Callable[[Stop], T]) -> T:
    """Run blocking migration ``work`` with SIGTERM and SIGINT owned from its start: a signal
    stops it as soon as stopping leaves nothing half done (`Interrupted`)."""
    from executor import migrate
    from executor.signals import handle_stop_signals

    async def until_stopped() -> T:
        lifecycle = Lifecycle()
        with handle_stop_signals(lifecycle):
            return await migrate.in_thread(lifecycle, phase, work)

    return asyncio.run(until_stopped())


@app.command(name="run")
@settings_options(
    "run",
    "database",
    "workflows",
    "pass_env",
    "llm_base_url",
    "llm_prices",
    "concurrency",
    "lease",
    "heartbeat_timeout",
    "max_lost_attempts",
    "render_timeout",
    "artifacts_dir",
    "artifact_max_file",
    "artifact_max_run",
    "stop_timeout",
    "log_level",
    "log_format",
)
def run_command(
    flow: Annotated[Path, typer.Argument(metavar="FLOW.yaml", help="The workflow to run.")],
    input_json: Annotated[
        str | None, typer.Option("--input", metavar="JSON", help="The run's input, a JSON object.")
    ] = None,
    inputs: Annotated[
        list[str] | None,
        typer.Option(
            "-i",
            "--set",
            metavar="KEY=VALUE",
            help="Set one input field (repeatable); VALUE is JSON when it parses as JSON, else a string.",
        ),
    ] = None,
    save_artifacts: Annotated[
        Path | None,
        typer.Option(
            "--save-artifacts",
            metavar="DIR",
            help="When the run ends, copy its artifacts into DIR/<step>/<name> (a for_each "
            "step's into DIR/<step>/<item>/<name>).",
        ),
    ] = None,
    **given: str | bool | None,
) -> None:
    """Run one workflow to completion here, with live progress; print its outputs as JSON.

    Exit 0 when the run succeeds, 1 when it fails, 130 when interrupted.
    """
    import json

    from executor import local

    try:
        settings = parse_settings(stderr_is_tty=sys.stderr.isatty(), **given)
        log.configure(settings.log_level, settings.log_format)
        try:
            run_input = local.parse_inputs(input_json, inputs or [])
        except ValueError as exc:
            raise ConfigError("--input", str(exc)) from None
        if not flow.is_file():
            raise ConfigError("FLOW.yaml", f"{flow} is not a file")
        code, result = local.run(
            flow, run_input, settings, keep=given["database"] is not None, save_artifacts=save_artifacts
        )
    except ExecutorError as exc:
        _fail(exc)
    except Interrupted:  # before the run was started: nothing to print
        raise typer.Exit(EXIT_INTERRUPTED) from None
    typer.echo(json.dumps(result, indent=2, default=str))
    raise typer.Exit(code)


# Paragraphs on one line each: the help's renderer keeps a docstring's line breaks.
PURGE_HELP = "\n\n".join(
    (
        "Delete finished runs that finished more than --older-than ago, now, with their steps, "
        "logs, signals and artifacts; print how many (with --dry-run: how many it would delete). "
        "Give --artifacts-dir when the service keeps artifacts in a directory: their folders go too "
        "(else the service's next retention pass deletes them).",
        "Unfinished runs (pending, running, paused) are never deleted, nor the child runs of an "
        "unfinished parent; a parent goes once its child runs have gone. The workflows' "
        "`retention:` keys and --retention play no part: those are for `executor serve`, which "
        "deletes old runs by itself.",
        "No need to stop the service: it works on a database in use, in small paced "
        "transactions, so the service's work goes on meanwhile. On SQLite the file shrinks as "
        "it goes. Exit 130 when interrupted (what was deleted stays deleted).",
        "Example: executor purge --older-than 7d --status failed --dry-run",
    )
)


@app.command(help=PURGE_HELP)
@settings_options("purge", "database", "artifacts_dir", "log_level", "log_format")
def purge(
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            metavar="DURATION",
            show_default=False,
            help="Delete runs that finished more than this long ago: 500ms, 30s, 5m, 2h, 7d "
            "(0 for every finished run). Required.",
        ),
    ],
    status: Annotated[
        str | None,
        typer.Option(
            "--status", metavar="STATUS", help="Only runs that ended so: succeeded, failed or cancelled."
        ),
    ] = None,
    workflow: Annotated[
        str | None, typer.Option("--workflow", metavar="NAME", help="Only runs of this workflow.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count the runs it would delete; delete nothing.")
    ] = False,
    **given: str | bool | None,
) -> None:
    """Delete old finished runs now (the help is `PURGE_HELP`)."""
    from executor import migrate
    from executor.durations import format_duration, parse_duration
    from executor.retention import purge_database
    from executor.statuses import RUN_FINAL, RunStatus

    progress = [0]
    try:
        settings = parse_settings(stderr_is_tty=sys.stderr.isatty(), **given)
        log.configure(settings.log_level, settings.log_format)
        try:
            age = parse_duration(older_than)
            if age < 0:
                raise ValueError(f"{older_than!r} is negative")
        except ValueError as exc:
            raise ConfigError("--older-than", str(exc)) from None
        final = sorted(str(s) for s in RUN_FINAL)
        if status is not None and status not in final:
            raise ConfigError(
                "--status", f"{status!r} is not one of {', '.join(final)} (only finished runs go)"
            )
        migrate.check_schema(settings.database)
        count = purge_database(
            settings.database,
            age,
            workflow=workflow,
            status=RunStatus(status) if status else None,
            dry_run=dry_run,
            progress=progress,
            artifacts_dir=settings.artifacts_dir,
        )
    except ExecutorError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        typer.echo(f"interrupted: deleted {_runs(progress[0])} before the stop", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    which = " ".join(
        part
        for part in (status, "finished" if status is None else "", "run" if count == 1 else "runs")
        if part
    )
    scope = f" of workflow {workflow}" if workflow else ""
    verb = "would delete" if dry_run else "deleted"
    typer.echo(f"{verb} {count} {which}{scope} older than {format_duration(age)}")


def _runs(count: int) -> str:
    return f"{count} run{'' if count == 1 else 's'}"


@app.command()
@settings_options("backup", "database", "log_level", "log_format")
def backup(
    target: Annotated[Path, typer.Argument(metavar="FILE", help="Where to write the copy (must not exist).")],
    **given: str | bool | None,
) -> None:
    """Copy the SQLite database to FILE while it is in use: a consistent snapshot with every
    run accepted before the copy began. Restore by serving FILE (e.g. --database sqlite:///FILE)."""
    from executor.backup import backup as take_backup

    try:
        settings = parse_settings(stderr_is_tty=sys.stderr.isatty(), **given)
        log.configure(settings.log_level, settings.log_format)
        size = take_backup(settings.database, target)
    except ExecutorError as exc:
        _fail(exc)
    typer.echo(f"backed up {settings.database.sqlite_path} to {target} ({size} bytes)")


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(metavar="FLOW.yaml...", help="Workflow files to check.")],
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 on warnings too, not only on problems.")
    ] = False,
) -> None:
    """Check workflow files; print every problem with its file, line and path. Exit 1 if any.

    Warnings (a valid workflow that is risky, e.g. a run input pasted into a shell script)
    are printed the same way, marked `warning:`; they change the exit code only with --strict."""
    from executor.errors import WorkflowInvalid
    from executor.workflow import lint, parse_workflow
    from executor.workflow.lint import as_line

    failed = 0
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
            workflow = parse_workflow(text, str(path))
        except OSError as exc:
            typer.echo(f"{path}: cannot read: {exc.strerror}", err=True)
            failed += 1
        except WorkflowInvalid as exc:
            for problem in exc.problems:
                typer.echo(str(problem), err=True)
            failed += 1
        else:
            warnings = lint(workflow, source=text, filename=str(path))
            for warning in warnings:
                typer.echo(as_line(warning), err=True)
            noted = f", {len(warnings)} warning{'' if len(warnings) == 1 else 's'}" if warnings else ""
            typer.echo(f"{path}: ok ({workflow.name}, {len(workflow.steps)} steps{noted})")
            for line in _schedule_lines(workflow):
                typer.echo(line)
            failed += bool(strict and warnings)
    if failed:
        raise typer.Exit(1)


def _schedule_lines(workflow: Workflow) -> list[str]:
    """Each schedule and its next fire times, in its own zone (what a reader checks a cron
    expression against)."""
    import time

    from executor.durations import format_duration

    lines = []
    for schedule in workflow.schedules:
        when = schedule.cron if schedule.cron is not None else f"every {format_duration(schedule.every or 0)}"
        lines.append(
            f"  schedule {schedule.id}: {when} ({schedule.timezone}), overlap {schedule.overlap}; next:"
        )
        for tick in schedule.next_ticks(time.time(), VALIDATE_TICKS):
            local = schedule.local(tick)
            lines.append(
                f"    {local.strftime('%a %Y-%m-%d %H:%M:%S %Z')} ({local.isoformat(timespec='seconds')})"
            )
    return lines


@app.command()
def version() -> None:
    """Print the version and exit."""
    typer.echo(f"executor {__version__}")


# The remote commands: clients of a running Executor's HTTP API (executor.remote).
for _name, _group in REMOTE_GROUPS.items():
    app.add_typer(_group, name=_name, rich_help_panel="Remote: drive a running Executor over its API")
COMMANDS |= set(REMOTE_GROUPS)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    given = launch.serve_arguments(args)
    if given is not None:  # the plain `executor [serve] --flag value ...`, read as typer would
        launch.start(given)
        return
    frozen.adopt_bootloader()
    log.configure()  # until the command has parsed its own --log-level and --log-format
    # `executor [OPTIONS]` means `executor serve [OPTIONS]`.
    if not args or (args[0] not in COMMANDS and args[0] not in ("--help", "-h", "--version")):
        args.insert(0, "serve")
    app(args=args, prog_name="executor")
