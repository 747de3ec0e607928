"""Configuration, parsed once at the edge into one frozen `Settings` object.

Every setting has a command-line flag and an ``EXECUTOR_*`` environment variable (typer
reads both and hands us the raw strings); this module turns the strings into typed values
and rejects bad ones with a `ConfigError` naming the flag and the variable, so a typo
fails at start with one line instead of somewhere in the middle of a run.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from executor.durations import format_duration, parse_duration
from executor.errors import ConfigError
from executor.store.url import DatabaseURL

LOG_LEVELS = ("trace", "debug", "info", "warning", "error")
LOG_FORMATS = ("auto", "text", "json")

DEFAULTS = {
    "database": "sqlite:///executor.db",
    "host": "127.0.0.1",
    "port": "8080",
    "stop_timeout": "30s",
    "drain_delay": "0s",
    "poll_interval": "1s",
    "lease": "30s",
    "max_body": "1MiB",
    "pool_size": "10",
    "concurrency": "16",
    "log_level": "info",
    "log_format": "auto",
}


@dataclass(frozen=True)
class Settings:
    database: DatabaseURL
    host: str = "127.0.0.1"
    port: int = 8080
    stop_timeout: float = 30.0
    # After a stop signal, keep HTTP up (ready answering 503) at least this long, so that a
    # load balancer sees the instance leave before its port closes.
    drain_delay: float = 0.0
    poll_interval: float = 1.0
    concurrency: int = 16
    # How long a claimed step stays owned without a renewal: an instance that dies loses
    # its steps to the others (or to its own restart) after this long.
    lease: float = 30.0
    workflows: Path | None = None  # a folder of *.yaml workflows to register at start
    max_body: int = 1 << 20  # request bodies larger than this are refused (413)
    pool_size: int = 10  # PostgreSQL connections per instance at most (plus one for LISTEN)
    # Several tokens are accepted at once so that they can be rotated without downtime.
    api_tokens: tuple[str, ...] = dataclasses.field(default=(), repr=False)
    log_level: str = "info"
    log_format: Literal["text", "json"] = "text"
    insecure: bool = False
    skip_migrations: bool = False


# (flag, environment variable) of each setting, as the user sees them in errors.
NAMES = {
    "database": ("--database", "EXECUTOR_DATABASE_URL"),
    "host": ("--host", "EXECUTOR_HOST"),
    "port": ("--port", "EXECUTOR_PORT"),
    "stop_timeout": ("--stop-timeout", "EXECUTOR_STOP_TIMEOUT"),
    "drain_delay": ("--drain-delay", "EXECUTOR_DRAIN_DELAY"),
    "poll_interval": ("--poll-interval", "EXECUTOR_POLL_INTERVAL"),
    "concurrency": ("--concurrency", "EXECUTOR_CONCURRENCY"),
    "lease": ("--lease", "EXECUTOR_LEASE"),
    "workflows": ("--workflows", "EXECUTOR_WORKFLOWS"),
    "max_body": ("--max-body", "EXECUTOR_MAX_BODY"),
    "pool_size": ("--pool-size", "EXECUTOR_POOL_SIZE"),
    "api_token": ("--api-token", "EXECUTOR_API_TOKEN"),
    "log_level": ("--log-level", "EXECUTOR_LOG_LEVEL"),
    "log_format": ("--log-format", "EXECUTOR_LOG_FORMAT"),
    "insecure": ("--insecure", "EXECUTOR_INSECURE"),
}


def _name(key: str) -> str:
    flag, env = NAMES[key]
    return f"{flag} ({env})"


def _parse_int(key: str, text: str, low: int, high: int) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise ConfigError(_name(key), f"{text!r} is not a whole number") from None
    if not low <= value <= high:
        raise ConfigError(_name(key), f"{value} is out of range ({low}..{high})")
    return value


def _parse_seconds(key: str, text: str, *, minimum: float) -> float:
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise ConfigError(_name(key), str(exc)) from None
    if value < minimum:
        raise ConfigError(_name(key), f"{text!r} is shorter than {format_duration(minimum)}")
    return value


_SIZE = re.compile(r"^\s*(\d+)\s*(B|KiB|MiB|GiB|KB|MB|GB)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kib": 1024, "mib": 1024**2, "gib": 1024**3, "kb": 1000, "mb": 1000**2, "gb": 1000**3}


def _parse_size(key: str, text: str) -> int:
    match = _SIZE.match(str(text))
    if not match:
        raise ConfigError(_name(key), f"{text!r} is not a size (e.g. 1MiB, 512KiB, 100000)")
    value = int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()]
    if value < 1024:
        raise ConfigError(_name(key), f"{text!r} is smaller than 1KiB")
    return value


def _parse_choice(key: str, text: str, choices: tuple[str, ...]) -> str:
    value = str(text).strip().lower()
    if value not in choices:
        raise ConfigError(_name(key), f"{text!r} is not one of {', '.join(choices)}")
    return value


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_lock_timeout(text: str) -> float:
    """`executor migrate --lock-timeout`: a migrate-only setting, so not part of `Settings`."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ConfigError("--lock-timeout", str(exc)) from None


def parse_workflows_dir(text: str | None) -> Path | None:
    if not text:
        return None
    path = Path(text)
    if not path.is_dir():
        raise ConfigError(_name("workflows"), f"{text} is not a directory")
    return path


def parse_database(text: str) -> DatabaseURL:
    try:
        return DatabaseURL.parse(text)
    except ValueError as exc:
        raise ConfigError(_name("database"), str(exc)) from None


def parse_settings(
    *,
    database: str = DEFAULTS["database"],
    host: str = DEFAULTS["host"],
    port: str = DEFAULTS["port"],
    stop_timeout: str = DEFAULTS["stop_timeout"],
    drain_delay: str = DEFAULTS["drain_delay"],
    poll_interval: str = DEFAULTS["poll_interval"],
    concurrency: str = DEFAULTS["concurrency"],
    lease: str = DEFAULTS["lease"],
    workflows: str | None = None,
    max_body: str = DEFAULTS["max_body"],
    pool_size: str = DEFAULTS["pool_size"],
    api_token: str | None = None,
    log_level: str = DEFAULTS["log_level"],
    log_format: str = DEFAULTS["log_format"],
    insecure: bool = False,
    skip_migrations: bool = False,
    stderr_is_tty: bool | None = None,
) -> Settings:
    """Build `Settings` from raw strings, raising `ConfigError` on the first bad value."""
    host = host.strip()
    if not host:
        raise ConfigError(_name("host"), "must not be empty")
    tokens = tuple(t.strip() for t in (api_token or "").split(",") if t.strip())
    fmt = _parse_choice("log_format", log_format, LOG_FORMATS)
    if fmt == "auto":
        tty = sys.stderr.isatty() if stderr_is_tty is None else stderr_is_tty
        fmt = "text" if tty else "json"
    settings = Settings(
        database=parse_database(database),
        host=host,
        port=_parse_int("port", port, 0, 65535),
        stop_timeout=_parse_seconds("stop_timeout", stop_timeout, minimum=0.0),
        drain_delay=_parse_seconds("drain_delay", drain_delay, minimum=0.0),
        poll_interval=_parse_seconds("poll_interval", poll_interval, minimum=0.01),
        concurrency=_parse_int("concurrency", concurrency, 1, 10_000),
        lease=_parse_seconds("lease", lease, minimum=0.1),
        workflows=parse_workflows_dir(workflows),
        max_body=_parse_size("max_body", max_body),
        pool_size=_parse_int("pool_size", pool_size, 2, 1000),
        api_tokens=tokens,
        log_level=_parse_choice("log_level", log_level, LOG_LEVELS),
        log_format=fmt,  # type: ignore[arg-type]
        insecure=insecure,
        skip_migrations=skip_migrations,
    )
    if not is_loopback(settings.host) and not settings.api_tokens and not settings.insecure:
        raise ConfigError(
            _name("host"),
            f"{settings.host} is not a loopback address and no API token is set; "
            "set --api-token (EXECUTOR_API_TOKEN) or pass --insecure to serve without one",
        )
    return settings
