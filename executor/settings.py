"""Configuration: every setting declared once, in `SETTINGS`, and parsed once at the edge
into one frozen `Settings` object.

A setting's row gives its flag, its ``EXECUTOR_*`` environment variable, its default as the
user would write it, its parser and its help. The command-line options (`executor.cli`), the
defaults other modules fall back to (`default`) and README's table (``python -m
executor.settings``) are derived from the rows, so they cannot disagree. A bad value is a
`ConfigError` naming the flag and the variable: a typo fails at start with one line instead
of somewhere in the middle of a run.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from executor.actions.prices import Price, load_prices
from executor.durations import format_duration, parse_duration
from executor.errors import ConfigError
from executor.store.url import DatabaseURL


@dataclass(frozen=True)
class Setting:
    """One setting as the user names and writes it, and how its text becomes a value."""

    name: str  # the keyword of `parse_settings`, and the `Settings` field unless `field` says otherwise
    flag: str
    env: str
    default: str  # as the user would write it; "" is none, and a switch's is "off"
    parse: Callable[[str], Any]  # raises ValueError saying what is wrong with the text
    help: str
    metavar: str = ""
    field: str = ""

    @property
    def named(self) -> str:
        """How errors name the setting, whichever way it was given."""
        return f"{self.flag} ({self.env})"

    @property
    def is_switch(self) -> bool:
        return self.parse is switch

    def read(self, raw: str | bool | None) -> Any:
        """The value of ``raw`` (None: the default), or a `ConfigError` naming the setting."""
        if isinstance(raw, bool):  # a switch, already read by the command line
            return raw
        text = self.default if raw is None else raw
        try:
            return self.parse(text)
        except ValueError as exc:
            raise ConfigError(self.named, str(exc)) from None


# Parsers: text to value, or ValueError with the reason (`Setting.read` adds the name).


def whole(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise ValueError(f"{value} is out of range ({low}..{high})")
        return value

    return parse


def seconds(minimum: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = parse_duration(text)
        if value < minimum:
            raise ValueError(f"{text!r} is shorter than {format_duration(minimum)}")
        return value

    return parse


def one_of(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            raise ValueError(f"{text!r} is not one of {', '.join(choices)}")
        return value

    return parse


_SIZE = re.compile(r"^\s*(\d+)\s*(B|KiB|MiB|GiB|KB|MB|GB)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kib": 1024, "mib": 1024**2, "gib": 1024**3, "kb": 1000, "mb": 1000**2, "gb": 1000**3}


def size(text: str) -> int:
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a size (e.g. 1MiB, 512KiB, 100000)")
    value = int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()]
    if value < 1024:
        raise ValueError(f"{text!r} is smaller than 1KiB")
    return value


def switch(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("on", "off", "true", "false", "1", "0"):
        raise ValueError(f"{text!r} is neither on nor off")
    return value in ("on", "true", "1")


def _host(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text.strip()


def _folder(text: str) -> Path | None:
    if not text:
        return None
    if not Path(text).is_dir():
        raise ValueError(f"{text} is not a directory")
    return Path(text)


def _workers(text: str) -> int:
    if text.strip().lower() == "auto":
        return os.cpu_count() or 1
    try:
        return whole(1, MAX_WORKERS)(text)
    except ValueError as exc:
        raise ValueError(f"{exc}; or auto (one per core: {os.cpu_count() or 1} here)") from None


def _tokens(text: str) -> tuple[str, ...]:
    return tuple(token.strip() for token in text.split(",") if token.strip())


def _http_url(text: str) -> str:
    scheme, _, rest = text.strip().partition("://")
    if scheme.lower() not in ("http", "https") or not rest.strip("/"):
        raise ValueError(f"{text!r} is not an http:// or https:// URL")
    return text.strip().rstrip("/")


def _prices(text: str) -> dict[str, Price]:
    return load_prices(text) if text else {}


_OWN_VARIABLE = re.compile(r"^EXECUTOR_[A-Za-z0-9_]+$")


def _own_variables(text: str) -> tuple[str, ...]:
    names = _tokens(text)
    for name in names:
        if not _OWN_VARIABLE.match(name):
            raise ValueError(f"{name!r} is not the name of an EXECUTOR_* variable")
    return names


MAX_WORKERS = 256
LOG_LEVELS = ("trace", "debug", "info", "warning", "error")
LOG_FORMATS = ("auto", "text", "json")

SETTINGS = {
    setting.name: setting
    for setting in (
        Setting(
            "database",
            "--database",
            "EXECUTOR_DATABASE_URL",
            default="sqlite:///executor.db",
            parse=DatabaseURL.parse,
            metavar="URL",
            help="Database: `sqlite:///PATH` (relative to the working directory; `sqlite:////abs/path` "
            "for an absolute one) or `postgresql://USER:PASSWORD@HOST:PORT/DB`.",
        ),
        Setting(
            "host",
            "--host",
            "EXECUTOR_HOST",
            default="127.0.0.1",
            parse=_host,
            metavar="HOST",
            help="Address to listen on; a non-loopback address needs `--api-token` or `--insecure`.",
        ),
        Setting(
            "port",
            "--port",
            "EXECUTOR_PORT",
            default="8080",
            parse=whole(0, 65535),
            metavar="PORT",
            help="TCP port to listen on (`0` picks a free one and logs it).",
        ),
        Setting(
            "stop_timeout",
            "--stop-timeout",
            "EXECUTOR_STOP_TIMEOUT",
            default="30s",
            parse=seconds(minimum=0.0),
            metavar="DURATION",
            help="On SIGTERM, how long in-flight steps may run before they are cancelled and handed "
            "back. Durations: `500ms`, `30s`, `5m`, `2h`.",
        ),
        Setting(
            "drain_delay",
            "--drain-delay",
            "EXECUTOR_DRAIN_DELAY",
            default="0s",
            parse=seconds(minimum=0.0),
            metavar="DURATION",
            help="On SIGTERM, keep serving HTTP (with `/health/ready` answering 503) at least this "
            "long, so that load balancers stop routing here before the port closes.",
        ),
        Setting(
            "poll_interval",
            "--poll-interval",
            "EXECUTOR_POLL_INTERVAL",
            default="1s",
            parse=seconds(minimum=0.01),
            metavar="DURATION",
            help="How often to look for ready work when nothing signalled it.",
        ),
        Setting(
            "concurrency",
            "--concurrency",
            "EXECUTOR_CONCURRENCY",
            default="16",
            parse=whole(1, 10_000),
            metavar="N",
            help="Steps in flight per instance at most.",
        ),
        Setting(
            "workers",
            "--workers",
            "EXECUTOR_WORKERS",
            default="1",
            parse=_workers,
            metavar="N",
            help="Worker processes serving this port, each a whole instance (its own claims, leases, "
            "`--concurrency` and `--pool-size`) on the one database; `auto`: one per core. Steps "
            "that run processes gain on both databases, the engine's own work on PostgreSQL only "
            "(README: Using every core).",
        ),
        Setting(
            "lease",
            "--lease",
            "EXECUTOR_LEASE",
            default="30s",
            parse=seconds(minimum=0.1),
            metavar="DURATION",
            help="How long a claimed step stays owned without renewal: the steps of an instance that "
            "stopped renewing are queued again after this long (sooner when its heartbeat stops, "
            "see `--heartbeat-timeout`; at once when it restarts on the same host).",
        ),
        Setting(
            "heartbeat_timeout",
            "--heartbeat-timeout",
            "EXECUTOR_HEARTBEAT_TIMEOUT",
            default="10s",
            parse=seconds(minimum=0.5),
            metavar="DURATION",
            help="An instance whose heartbeat in the registry is older than this is taken for dead: "
            "its peers queue its steps again at once instead of waiting out `--lease`. Instances "
            "beat every fifth of it; use the same value across a fleet.",
        ),
        Setting(
            "max_lost_attempts",
            "--max-lost-attempts",
            "EXECUTOR_MAX_LOST_ATTEMPTS",
            default="3",
            parse=whole(1, 1000),
            metavar="N",
            help="A lost attempt (its instance died, hung or lost its lease) is queued again without "
            "spending the step's retries; a step lost this many times in a row fails instead, "
            "naming the instances (the brake on a step that takes its executors down).",
        ),
        Setting(
            "workflows",
            "--workflows",
            "EXECUTOR_WORKFLOWS",
            default="",
            parse=_folder,
            metavar="DIR",
            help="A folder of workflows (`*.yaml`) to register at start; a changed file becomes a new "
            "version, an invalid one is reported and skipped.",
        ),
        Setting(
            "pass_env",
            "--pass-env",
            "EXECUTOR_PASS_ENV",
            default="",
            parse=_own_variables,
            metavar="NAMES",
            help="`EXECUTOR_*` variables of the service's environment that shell commands see too "
            "(comma-separated names). Commands see no other: Executor's own settings and secrets "
            "stay out of them.",
        ),
        Setting(
            "llm_base_url",
            "--llm-base-url",
            "EXECUTOR_LLM_BASE_URL",
            default="https://api.openai.com/v1",
            parse=_http_url,
            metavar="URL",
            help="The OpenAI-compatible API that `llm` steps call when they give no `base_url` "
            "(OpenAI, vLLM, Ollama's `http://localhost:11434/v1`, LiteLLM...).",
        ),
        Setting(
            "llm_prices",
            "--llm-prices",
            "EXECUTOR_LLM_PRICES",
            default="",
            parse=_prices,
            metavar="FILE",
            help="A YAML or JSON file of model prices in USD per million tokens (`gpt-4o: {input: "
            "2.5, output: 10, cached_input: 1.25}`), read at start: the cost of `llm` calls and "
            "workflow budgets. A model it does not name costs null.",
        ),
        Setting(
            "render_timeout",
            "--render-timeout",
            "EXECUTOR_RENDER_TIMEOUT",
            default="10s",
            parse=seconds(minimum=0.1),
            metavar="DURATION",
            help="How long a template with loops or other unbounded work may render (in a worker "
            "process; a step's shorter `timeout` lowers it); over it, the step (or the run, for "
            "workflow `outputs`) fails, naming the template.",
        ),
        Setting(
            "max_body",
            "--max-body",
            "EXECUTOR_MAX_BODY",
            default="1MiB",
            parse=size,
            metavar="SIZE",
            help="Largest request body accepted (413 above it, refused before it is read whole).",
        ),
        Setting(
            "artifacts_dir",
            "--artifacts-dir",
            "EXECUTOR_ARTIFACTS_ROOT",
            default="",
            parse=_folder,
            metavar="DIR",
            help="Keep artifacts' bytes in this directory (in a fleet: a volume every instance mounts) "
            "instead of the database (the default: chunks in the database, nothing more to share).",
        ),
        Setting(
            "artifact_max_file",
            "--artifact-max-file",
            "EXECUTOR_ARTIFACT_MAX_FILE",
            default="1GiB",
            parse=size,
            metavar="SIZE",
            help="Largest artifact a step may leave; a larger one fails the step, naming it.",
        ),
        Setting(
            "artifact_max_run",
            "--artifact-max-run",
            "EXECUTOR_ARTIFACT_MAX_RUN",
            default="10GiB",
            parse=size,
            metavar="SIZE",
            help="Most bytes of artifacts one run may keep; a step that would pass it fails, naming the sizes.",
        ),
        Setting(
            "pool_size",
            "--pool-size",
            "EXECUTOR_POOL_SIZE",
            default="10",
            parse=whole(2, 1000),
            metavar="N",
            help="PostgreSQL connections per instance at most (one more listens for work). Size the "
            "server's `max_connections` for instances × (pool size + 1).",
        ),
        Setting(
            "api_token",
            "--api-token",
            "EXECUTOR_API_TOKEN",
            default="",
            parse=_tokens,
            metavar="TOKENS",
            field="api_tokens",
            help="Bearer token(s) the API requires; several, comma-separated, to rotate without "
            "downtime. Never logged.",
        ),
        Setting(
            "log_level",
            "--log-level",
            "EXECUTOR_LOG_LEVEL",
            default="info",
            parse=one_of(*LOG_LEVELS),
            metavar="LEVEL",
            help=f"One of {', '.join(LOG_LEVELS)}.",
        ),
        Setting(
            "log_format",
            "--log-format",
            "EXECUTOR_LOG_FORMAT",
            default="auto",
            parse=one_of(*LOG_FORMATS),
            metavar="FORMAT",
            help="`text`, `json`, or `auto`: text when stderr is a terminal, JSON lines otherwise.",
        ),
        Setting(
            "insecure",
            "--insecure",
            "EXECUTOR_INSECURE",
            default="off",
            parse=switch,
            help="Allow a non-loopback `--host` without an API token.",
        ),
        Setting(
            "skip_migrations",
            "--skip-migrations",
            "EXECUTOR_SKIP_MIGRATIONS",
            default="off",
            parse=switch,
            help="Do not migrate at start; refuse to start unless the schema is current (fleets: run "
            "`executor migrate` once, then start every instance with this flag).",
        ),
        Setting(
            "retention",
            "--retention",
            "EXECUTOR_RETENTION",
            default="30d",
            parse=seconds(minimum=0.0),
            metavar="DURATION",
            help="Delete finished runs (with their steps, logs and signals) this long after they "
            "finished; `0` keeps everything. A workflow's `retention:` key overrides it for its runs.",
        ),
        Setting(
            "lock_timeout",
            "--lock-timeout",
            "EXECUTOR_LOCK_TIMEOUT",
            default="2m",
            parse=seconds(minimum=0.0),
            metavar="DURATION",
            help="How long `executor migrate` waits for another one to finish before giving up.",
        ),
    )
}

# Where a command departs from the table (any `Setting` attribute but the name). `executor run`
# works at a terminal: it logs less, as text, and keeps its run in a temporary database
# unless it is given one.
OVERRIDES: dict[str, dict[str, dict[str, Any]]] = {
    "run": {
        "database": {
            "default": "",
            "help": "Keep the run in this database (default: a temporary one, removed afterwards).",
        },
        "stop_timeout": {"help": "On Ctrl-C, how long running steps may finish."},
        "log_level": {"default": "warning"},
        "log_format": {"default": "text"},
    },
}


def setting(name: str, command: str | None = None) -> Setting:
    """Setting ``name`` as ``command`` takes it."""
    changes = OVERRIDES.get(command or "", {}).get(name, {})
    return dataclasses.replace(SETTINGS[name], **changes)


def default(name: str) -> Any:
    """The parsed default of setting ``name``, for modules that fall back to it."""
    return SETTINGS[name].read(None)


@dataclass(frozen=True)
class Settings:
    """Every setting, parsed: one field per row of `SETTINGS` (a test keeps them in step)."""

    database: DatabaseURL
    host: str
    port: int
    stop_timeout: float
    # After a stop signal, keep HTTP up (ready answering 503) at least this long, so that a
    # load balancer sees the instance leave before its port closes.
    drain_delay: float
    poll_interval: float
    concurrency: int
    workers: int  # serving processes (`executor.workers`); 1: this process serves
    # How long a claimed step stays owned without a renewal: an instance that dies loses
    # its steps to the others (or to its own restart) after this long.
    lease: float
    # Peers take an instance whose heartbeat is older than this for dead and reclaim its
    # steps at once: a kill -9 costs seconds, not the whole lease.
    heartbeat_timeout: float
    max_lost_attempts: int  # lost attempts in a row before a step fails (the poison brake)
    workflows: Path | None  # a folder of *.yaml workflows to register at start
    pass_env: tuple[str, ...]  # EXECUTOR_* variables that shell commands see too
    llm_base_url: str  # where `llm` steps without a base_url send their calls
    llm_prices: Mapping[str, Price]  # USD per million tokens, by model (`--llm-prices`)
    render_timeout: float  # time limit of a template rendered by a worker (or its step's, if shorter)
    max_body: int  # request bodies larger than this are refused (413)
    artifacts_dir: Path | None  # artifacts' bytes in files here (None: in the database)
    artifact_max_file: int  # bytes per artifact
    artifact_max_run: int  # bytes of kept artifacts per run
    pool_size: int  # PostgreSQL connections per instance at most (plus one for LISTEN)
    # Several tokens are accepted at once so that they can be rotated without downtime.
    api_tokens: tuple[str, ...] = dataclasses.field(repr=False)
    log_level: str
    log_format: Literal["text", "json"]
    insecure: bool
    skip_migrations: bool
    # Finished runs older than this are deleted by one instance at a time (0: kept forever).
    retention: float
    lock_timeout: float  # `executor migrate` only


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_settings(*, stderr_is_tty: bool | None = None, **given: str | bool | None) -> Settings:
    """Build `Settings` from raw values (text of a flag or a variable, a switch's bool; None or
    left out: the default), raising `ConfigError` on the first bad one."""
    unknown = given.keys() - SETTINGS.keys()
    if unknown:
        raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
    values = {s.field or s.name: s.read(given.get(s.name)) for s in SETTINGS.values()}
    if values["log_format"] == "auto":
        tty = sys.stderr.isatty() if stderr_is_tty is None else stderr_is_tty
        values["log_format"] = "text" if tty else "json"
    settings = Settings(**values)
    if not is_loopback(settings.host) and not settings.api_tokens and not settings.insecure:
        raise ConfigError(
            SETTINGS["host"].named,
            f"{settings.host} is not a loopback address and no API token is set; "
            f"set {SETTINGS['api_token'].named} or pass --insecure to serve without one",
        )
    return settings


def settings_table_markdown() -> str:
    """README's table of settings; ``python -m executor.settings`` prints it."""
    lines = ["| flag | environment variable | default | meaning |", "|---|---|---|---|"]
    for s in SETTINGS.values():
        shown = _shown(s, s.default)
        for command, changes in OVERRIDES.items():
            if "default" in changes.get(s.name, {}):
                shown += f" (`{command}`: {_shown(s, changes[s.name]['default'])})"
        meaning = s.help.replace("|", "\\|")
        lines.append(f"| `{s.flag}` | `{s.env}` | {shown} | {meaning} |")
    return "\n".join(lines) + "\n"


def _shown(setting: Setting, default: str) -> str:
    if setting.is_switch or not default:
        return default or "none"
    return f"`{default}`"


if __name__ == "__main__":
    print(settings_table_markdown(), end="")
