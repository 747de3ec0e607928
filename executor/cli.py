"""The `executor` command line: serve (the default), migrate, version.

Options arrive as raw strings (from a flag or its ``EXECUTOR_*`` variable) and are parsed
once, by `executor.settings`, so that a bad value fails with one line naming the setting
and exit code 2, whichever way it was given.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from executor import __version__, frozen, log
from executor.errors import ConfigError, ExecutorError
from executor.settings import DEFAULTS, parse_lock_timeout, parse_settings

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

COMMANDS = {"serve", "migrate", "version", "run", "validate"}


def _option(flag: str, env: str, help: str, metavar: str | None = None, default_shown: bool = True) -> Any:
    return typer.Option(flag, envvar=env, help=help, metavar=metavar, show_default=default_shown)


Database = Annotated[
    str,
    _option(
        "--database",
        "EXECUTOR_DATABASE_URL",
        "Database URL: sqlite:///PATH (relative to the working directory; "
        "sqlite:////abs/path for an absolute one) or postgresql://USER@HOST:PORT/DB.",
    ),
]
LogLevel = Annotated[
    str, _option("--log-level", "EXECUTOR_LOG_LEVEL", "trace, debug, info, warning or error.", "LEVEL")
]
LogFormat = Annotated[
    str,
    _option(
        "--log-format",
        "EXECUTOR_LOG_FORMAT",
        "text, json, or auto (text when stderr is a terminal, json otherwise).",
        "FORMAT",
    ),
]


Concurrency = Annotated[
    str, _option("--concurrency", "EXECUTOR_CONCURRENCY", "Steps in flight per instance at most.", "N")
]
Lease = Annotated[
    str,
    _option(
        "--lease",
        "EXECUTOR_LEASE",
        "How long a claimed step stays owned without renewal: steps of an instance that died "
        "are retried (as a failed attempt) after this long.",
        "DURATION",
    ),
]
Workflows = Annotated[
    str | None,
    _option(
        "--workflows",
        "EXECUTOR_WORKFLOWS",
        "A folder of workflows (*.yaml) to register at start; a changed file becomes a new version, "
        "an invalid one is reported and skipped.",
        "DIR",
        default_shown=False,
    ),
]


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
def serve(
    database: Database = DEFAULTS["database"],
    host: Annotated[
        str,
        _option(
            "--host",
            "EXECUTOR_HOST",
            "Address to listen on. A non-loopback address needs --api-token or --insecure.",
            "HOST",
        ),
    ] = DEFAULTS["host"],
    port: Annotated[
        str, _option("--port", "EXECUTOR_PORT", "TCP port to listen on (0: any free port).", "PORT")
    ] = DEFAULTS["port"],
    stop_timeout: Annotated[
        str,
        _option(
            "--stop-timeout",
            "EXECUTOR_STOP_TIMEOUT",
            "On SIGTERM, how long in-flight steps may take to finish before they are cancelled "
            "and handed back. Durations: 500ms, 30s, 5m, 2h.",
            "DURATION",
        ),
    ] = DEFAULTS["stop_timeout"],
    drain_delay: Annotated[
        str,
        _option(
            "--drain-delay",
            "EXECUTOR_DRAIN_DELAY",
            "On SIGTERM, keep serving HTTP (with /health/ready answering 503) at least this long, "
            "so that load balancers stop routing here before the port closes.",
            "DURATION",
        ),
    ] = DEFAULTS["drain_delay"],
    poll_interval: Annotated[
        str,
        _option(
            "--poll-interval",
            "EXECUTOR_POLL_INTERVAL",
            "How often to look for ready work when nothing signalled it.",
            "DURATION",
        ),
    ] = DEFAULTS["poll_interval"],
    concurrency: Concurrency = DEFAULTS["concurrency"],
    lease: Lease = DEFAULTS["lease"],
    workflows: Workflows = None,
    pool_size: Annotated[
        str,
        _option(
            "--pool-size",
            "EXECUTOR_POOL_SIZE",
            "PostgreSQL connections per instance at most (one more listens for work). "
            "Size the server's max_connections for instances × (pool size + 1).",
            "N",
        ),
    ] = DEFAULTS["pool_size"],
    max_body: Annotated[
        str,
        _option("--max-body", "EXECUTOR_MAX_BODY", "Largest request body accepted (413 above it).", "SIZE"),
    ] = DEFAULTS["max_body"],
    api_token: Annotated[
        str | None,
        _option(
            "--api-token",
            "EXECUTOR_API_TOKEN",
            "Bearer token(s) the API requires; several, comma-separated, for rotation.",
            "TOKENS",
            default_shown=False,
        ),
    ] = None,
    log_level: LogLevel = DEFAULTS["log_level"],
    log_format: LogFormat = DEFAULTS["log_format"],
    insecure: Annotated[
        bool,
        _option("--insecure", "EXECUTOR_INSECURE", "Allow a non-loopback --host without an API token."),
    ] = False,
    skip_migrations: Annotated[
        bool,
        _option(
            "--skip-migrations",
            "EXECUTOR_SKIP_MIGRATIONS",
            "Do not migrate at start; refuse to start unless the schema is current "
            "(fleets: run `executor migrate` once, then start every instance with this flag).",
        ),
    ] = False,
) -> None:
    """Serve the HTTP API and run workflows until SIGTERM or SIGINT (the default command)."""
    from executor import migrate
    from executor.service import Service

    try:
        settings = parse_settings(
            database=database,
            host=host,
            port=port,
            stop_timeout=stop_timeout,
            drain_delay=drain_delay,
            poll_interval=poll_interval,
            concurrency=concurrency,
            lease=lease,
            workflows=workflows,
            max_body=max_body,
            pool_size=pool_size,
            api_token=api_token,
            log_level=log_level,
            log_format=log_format,
            insecure=insecure,
            skip_migrations=skip_migrations,
        )
        log.configure(settings.log_level, settings.log_format)
        if settings.skip_migrations:
            migrate.check_schema(settings.database)
        else:
            migrate.apply(settings.database)
        asyncio.run(Service(settings).run())
    except ExecutorError as exc:
        _fail(exc)


@app.command(name="migrate")
def migrate_command(
    database: Database = DEFAULTS["database"],
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
    lock_timeout: Annotated[
        str,
        typer.Option(
            "--lock-timeout",
            metavar="DURATION",
            help="How long to wait for another `executor migrate` to finish before giving up.",
            show_default=True,
        ),
    ] = "2m",
    log_level: LogLevel = DEFAULTS["log_level"],
    log_format: LogFormat = DEFAULTS["log_format"],
) -> None:
    """Apply pending migrations and exit. Safe to run from several processes at once."""
    from executor import migrate

    try:
        settings = parse_settings(database=database, log_level=log_level, log_format=log_format)
        wait = parse_lock_timeout(lock_timeout)
        log.configure(settings.log_level, settings.log_format)
        if status:
            current = migrate.status(settings.database)
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
        if break_lock:
            migrate.break_lock(settings.database)
        applied = migrate.apply(settings.database, lock_timeout=wait)
    except ExecutorError as exc:
        _fail(exc)
    if applied:
        for name in applied:
            typer.echo(f"applied  {name}")
    else:
        typer.echo("nothing to apply")


@app.command(name="run")
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
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            envvar="EXECUTOR_DATABASE_URL",
            metavar="URL",
            help="Keep the run in this database (default: a temporary one, removed afterwards).",
        ),
    ] = None,
    workflows: Workflows = None,
    concurrency: Concurrency = DEFAULTS["concurrency"],
    lease: Lease = DEFAULTS["lease"],
    stop_timeout: Annotated[
        str,
        typer.Option(
            "--stop-timeout", metavar="DURATION", help="On Ctrl-C, how long running steps may finish."
        ),
    ] = DEFAULTS["stop_timeout"],
    log_level: LogLevel = "warning",
    log_format: LogFormat = "text",
) -> None:
    """Run one workflow to completion here, with live progress; print its outputs as JSON.

    Exit 0 when the run succeeds, 1 when it fails, 130 when interrupted.
    """
    import json

    from executor import local

    try:
        settings = parse_settings(
            database=database or DEFAULTS["database"],
            concurrency=concurrency,
            lease=lease,
            workflows=workflows,
            stop_timeout=stop_timeout,
            log_level=log_level,
            log_format=log_format,
        )
        log.configure(settings.log_level, settings.log_format)
        try:
            run_input = local.parse_inputs(input_json, inputs or [])
        except ValueError as exc:
            raise ConfigError("--input", str(exc)) from None
        if not flow.is_file():
            raise ConfigError("FLOW.yaml", f"{flow} is not a file")
        code, result = local.run(
            flow,
            run_input,
            settings.database if database else None,
            workflows=settings.workflows,
            concurrency=settings.concurrency,
            stop_timeout=settings.stop_timeout,
            lease=settings.lease,
        )
    except ExecutorError as exc:
        _fail(exc)
    typer.echo(json.dumps(result, indent=2, default=str))
    raise typer.Exit(code)


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(metavar="FLOW.yaml...", help="Workflow files to check.")],
) -> None:
    """Check workflow files; print every problem with its file, line and path. Exit 1 if any."""
    from executor.errors import WorkflowInvalid
    from executor.workflow import parse_workflow

    failed = 0
    for path in files:
        try:
            workflow = parse_workflow(path.read_text(encoding="utf-8"), str(path))
        except OSError as exc:
            typer.echo(f"{path}: cannot read: {exc.strerror}", err=True)
            failed += 1
        except WorkflowInvalid as exc:
            for problem in exc.problems:
                typer.echo(str(problem), err=True)
            failed += 1
        else:
            typer.echo(f"{path}: ok ({workflow.name}, {len(workflow.steps)} steps)")
    if failed:
        raise typer.Exit(1)


@app.command()
def version() -> None:
    """Print the version and exit."""
    typer.echo(f"executor {__version__}")


def main(argv: list[str] | None = None) -> None:
    frozen.adopt_bootloader()
    args = list(sys.argv[1:] if argv is None else argv)
    log.configure()  # until the command has parsed its own --log-level and --log-format
    # `executor [OPTIONS]` means `executor serve [OPTIONS]`.
    if not args or (args[0] not in COMMANDS and args[0] not in ("--help", "-h", "--version")):
        args.insert(0, "serve")
    app(args=args, prog_name="executor")
