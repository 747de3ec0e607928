from __future__ import annotations

import dataclasses
import inspect
import os

import pytest
import typer.main

from executor import migrate
from executor.cli import app
from executor.durations import format_duration, parse_duration
from executor.errors import ConfigError
from executor.settings import OVERRIDES, SETTINGS, Settings, is_loopback, parse_settings, setting
from executor.store import create_store
from executor.store.url import DatabaseURL


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30),
        ("5m", 300),
        ("2h", 7200),
        ("1.5s", 1.5),
        ("0s", 0),
        ("10", 10),
        (" 7s ", 7),
    ],
)
def test_durations_parse_to_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["abc", "", "5 minutes", "-1s", "1w", "s", "nan", "inf", "1e400"])
def test_bad_durations_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.5, "500ms"), (30, "30s"), (300, "5m"), (7200, "2h"), (90, "90s")]
)
def test_durations_format_back(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(format_duration(seconds)) == seconds


def test_defaults() -> None:
    settings = parse_settings(stderr_is_tty=True)
    assert settings.database == DatabaseURL("sqlite:///executor.db", "sqlite")
    assert str(settings.database.sqlite_path) == "executor.db"
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.stop_timeout == 30
    assert settings.concurrency == 16
    assert settings.api_tokens == ()
    assert settings.log_format == "text"
    assert (settings.workflows, settings.insecure, settings.skip_migrations) == (None, False, False)
    assert (settings.max_body, settings.pool_size, settings.lock_timeout) == (1 << 20, 10, 120)


def test_log_format_auto_follows_the_terminal() -> None:
    assert parse_settings(stderr_is_tty=True).log_format == "text"
    assert parse_settings(stderr_is_tty=False).log_format == "json"
    assert parse_settings(stderr_is_tty=True, log_format="json").log_format == "json"


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("port", "70000", "--port (EXECUTOR_PORT)"),
        ("port", "eighty", "--port (EXECUTOR_PORT)"),
        ("stop_timeout", "abc", "--stop-timeout (EXECUTOR_STOP_TIMEOUT)"),
        ("drain_delay", "soon", "--drain-delay (EXECUTOR_DRAIN_DELAY)"),
        ("poll_interval", "0s", "--poll-interval (EXECUTOR_POLL_INTERVAL)"),
        ("concurrency", "0", "--concurrency (EXECUTOR_CONCURRENCY)"),
        ("database", "mysql://localhost/x", "--database (EXECUTOR_DATABASE_URL)"),
        ("database", "sqlite:///:memory:", "--database (EXECUTOR_DATABASE_URL)"),
        ("database", "executor.db", "--database (EXECUTOR_DATABASE_URL)"),
        ("log_level", "loud", "--log-level (EXECUTOR_LOG_LEVEL)"),
        ("log_format", "xml", "--log-format (EXECUTOR_LOG_FORMAT)"),
        ("host", " ", "--host (EXECUTOR_HOST)"),
        ("lease", "50ms", "--lease (EXECUTOR_LEASE)"),
        ("max_body", "512", "--max-body (EXECUTOR_MAX_BODY)"),
        ("max_body", "lots", "--max-body (EXECUTOR_MAX_BODY)"),
        ("pool_size", "1", "--pool-size (EXECUTOR_POOL_SIZE)"),
        ("workflows", "/no/such/folder", "--workflows (EXECUTOR_WORKFLOWS)"),
        ("insecure", "maybe", "--insecure (EXECUTOR_INSECURE)"),
        ("lock_timeout", "soon", "--lock-timeout (EXECUTOR_LOCK_TIMEOUT)"),
        ("workers", "0", "--workers (EXECUTOR_WORKERS)"),
        ("workers", "two", "--workers (EXECUTOR_WORKERS)"),
        ("workers", "257", "--workers (EXECUTOR_WORKERS)"),
    ],
)
def test_invalid_values_name_the_setting(field: str, value: str, named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(stderr_is_tty=None, **{field: value})  # named: see tests/api/conftest.py
    assert caught.value.setting == named
    assert caught.value.message.startswith(f"invalid {named}: ")
    assert caught.value.exit_code == 2


def test_workers_default_to_one_and_auto_is_one_per_core() -> None:
    assert parse_settings().workers == 1
    assert parse_settings(workers="3").workers == 3
    assert parse_settings(workers=" Auto ").workers == (os.cpu_count() or 1)


def test_postgres_urls_select_postgres() -> None:
    for url in ("postgresql://u@h:5432/db", "postgres://u:secret@h/db"):
        assert parse_settings(database=url).database.dialect == "postgres"
    assert DatabaseURL.parse("postgresql://u:secret@h/db").redacted() == "postgresql://u:***@h/db"


def test_absolute_sqlite_path() -> None:
    assert str(parse_settings(database="sqlite:////var/lib/x.db").database.sqlite_path) == "/var/lib/x.db"


def test_public_address_needs_a_token_or_insecure() -> None:
    with pytest.raises(ConfigError, match="--api-token"):
        parse_settings(host="0.0.0.0")
    assert parse_settings(host="0.0.0.0", api_token="t1").api_tokens == ("t1",)
    assert parse_settings(host="0.0.0.0", insecure=True).insecure


def test_several_tokens_for_rotation_and_never_in_repr() -> None:
    settings = parse_settings(api_token="old-secret, new-secret")
    assert settings.api_tokens == ("old-secret", "new-secret")
    assert "secret" not in repr(settings)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("10.1.2.3", False),
        ("example.com", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_unknown_settings_are_refused() -> None:
    with pytest.raises(TypeError, match="pool"):
        parse_settings(pool="3")


def test_settings_has_a_field_for_each_declared_setting() -> None:
    declared = {s.field or s.name for s in SETTINGS.values()}
    assert {field.name for field in dataclasses.fields(Settings)} == declared


def test_defaults_elsewhere_come_from_the_table() -> None:
    assert inspect.signature(migrate.apply).parameters["lock_timeout"].default == 120
    # The store takes its pool size from the caller (the settings), never a default of its own.
    assert inspect.signature(create_store).parameters["pool_size"].default is inspect.Parameter.empty


@pytest.mark.parametrize("command", ["serve", "migrate", "run"])
def test_command_line_options_are_built_from_the_table(command: str) -> None:
    click_command = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    options = [p for p in click_command.params if p.envvar]
    assert options, command
    for option in options:
        declared = setting(option.name, command)
        assert (option.opts, option.envvar, option.help) == ([declared.flag], declared.env, declared.help)
        if declared.is_switch:
            assert option.default is False
        else:
            assert option.default == (declared.default or None)
            assert option.metavar == declared.metavar


def test_run_has_its_own_defaults() -> None:
    assert setting("log_level", "run").default == "warning"
    assert setting("log_format", "run").default == "text"
    assert setting("database", "run").default == ""  # a temporary database
    assert setting("log_level").default == "info"
    assert all(name in SETTINGS for changes in OVERRIDES.values() for name in changes)
