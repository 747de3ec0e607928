"""The command line: version, settings errors, migrate and its concurrency."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from executor import __version__
from tests.support.databases import postgres_database
from tests.support.process import clean_env, run


def test_version(executor: list[str], workdir: Path) -> None:
    for args in (["--version"], ["version"]):
        result = run(executor, *args, cwd=workdir)
        assert result.returncode == 0 and result.stdout.strip() == f"executor {__version__}"


def test_help_lists_every_setting_with_its_variable(executor: list[str], workdir: Path) -> None:
    result = run(executor, "serve", "--help", cwd=workdir, env=clean_env(COLUMNS="200"))
    assert result.returncode == 0
    for flag, env in [
        ("--database", "EXECUTOR_DATABASE_URL"),
        ("--host", "EXECUTOR_HOST"),
        ("--port", "EXECUTOR_PORT"),
        ("--stop-timeout", "EXECUTOR_STOP_TIMEOUT"),
        ("--poll-interval", "EXECUTOR_POLL_INTERVAL"),
        ("--concurrency", "EXECUTOR_CONCURRENCY"),
        ("--api-token", "EXECUTOR_API_TOKEN"),
        ("--log-level", "EXECUTOR_LOG_LEVEL"),
        ("--log-format", "EXECUTOR_LOG_FORMAT"),
        ("--insecure", "EXECUTOR_INSECURE"),
        ("--skip-migrations", "EXECUTOR_SKIP_MIGRATIONS"),
    ]:
        assert flag in result.stdout and env in result.stdout, flag
    assert "sqlite:///executor.db" in result.stdout and "30s" in result.stdout


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--port", "70000"], {}, "--port"),
        ([], {"EXECUTOR_PORT": "70000"}, "--port (EXECUTOR_PORT)"),
        (["--stop-timeout", "abc"], {}, "--stop-timeout"),
        ([], {"EXECUTOR_POLL_INTERVAL": "soon"}, "--poll-interval (EXECUTOR_POLL_INTERVAL)"),
        (["--database", "mysql://localhost/db"], {}, "--database"),
        ([], {"EXECUTOR_DATABASE_URL": "redis://x"}, "--database (EXECUTOR_DATABASE_URL)"),
        (["--concurrency", "-3"], {}, "--concurrency"),
        (["--log-level", "chatty"], {}, "--log-level"),
        (["--host", "0.0.0.0"], {}, "--host"),
    ],
)
def test_invalid_settings_exit_2_naming_the_setting(
    executor: list[str], workdir: Path, args: list[str], env: dict[str, str], named: str
) -> None:
    result = run(executor, *args, cwd=workdir, env=clean_env(**env))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"executor: error: invalid {named}"), result.stderr
    assert not (workdir / "executor.db").exists(), "a bad setting must change nothing"


def test_migrate_is_idempotent_and_status_tells(executor: list[str], workdir: Path) -> None:
    status = run(executor, "migrate", "--status", cwd=workdir)
    assert status.returncode == 1 and re.search(r"^pending\s+0001\.", status.stdout, re.M)
    first = run(executor, "migrate", cwd=workdir)
    assert first.returncode == 0 and re.search(r"^applied\s+0001\.", first.stdout, re.M)
    second = run(executor, "migrate", cwd=workdir)
    assert second.returncode == 0 and second.stdout.strip() == "nothing to apply"
    status = run(executor, "migrate", "--status", cwd=workdir)
    assert status.returncode == 0 and "schema is current" in status.stdout
    assert "pending" not in status.stdout


def test_migrate_on_postgres(executor: list[str], workdir: Path) -> None:
    with postgres_database() as url:
        assert run(executor, "migrate", "--database", url, cwd=workdir).returncode == 0
        result = run(executor, "migrate", "--status", cwd=workdir, env=clean_env(EXECUTOR_DATABASE_URL=url))
        assert result.returncode == 0 and "schema is current" in result.stdout


@pytest.mark.slow  # ten processes start at once
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_ten_concurrent_migrates_apply_each_migration_once(
    executor: list[str], workdir: Path, backend: str
) -> None:
    if backend == "sqlite":
        _concurrent_migrate(executor, workdir, f"sqlite:///{workdir / 'shared.db'}")
        import sqlite3

        with sqlite3.connect(workdir / "shared.db") as conn:
            _assert_applied_once(conn.execute(_APPLY_LOG).fetchall())
    else:
        with postgres_database() as url:
            _concurrent_migrate(executor, workdir, url)
            with psycopg.connect(url) as conn:
                _assert_applied_once(conn.execute(_APPLY_LOG).fetchall())


_APPLY_LOG = "SELECT migration_id, count(*) FROM _yoyo_log WHERE operation = 'apply' GROUP BY migration_id"


def _concurrent_migrate(executor: list[str], workdir: Path, url: str) -> None:
    processes = [
        subprocess.Popen(
            [*executor, "migrate", "--database", url, "--log-format", "json"],
            cwd=workdir,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(10)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
    appliers = [out for out, _ in outputs if "applied" in out]
    assert len(appliers) == 1, outputs
    assert sum(out.strip() == "nothing to apply" for out, _ in outputs) == 9


def _assert_applied_once(rows: list[tuple[str, int]]) -> None:
    assert rows and all(count == 1 for _, count in rows), rows


_HOLD_LOCK = """
import sys, time
from yoyo import get_backend
backend = get_backend(sys.argv[1])
with backend.lock():
    print("locked", flush=True)
    time.sleep(600)
"""


def test_a_lock_left_by_a_killed_migrate_is_reported_and_can_be_broken(
    executor: list[str], workdir: Path
) -> None:
    url = f"sqlite:///{workdir / 'locked.db'}"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, url], stdout=subprocess.PIPE, text=True, env=clean_env()
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    finally:
        holder.kill()  # SIGKILL: the lock row stays behind
        holder.communicate(timeout=10)
    stuck = run(executor, "migrate", "--database", url, "--lock-timeout", "1s", cwd=workdir)
    assert stuck.returncode == 1
    assert "--break-lock" in stuck.stderr and "Traceback" not in stuck.stderr
    freed = run(executor, "migrate", "--database", url, "--break-lock", cwd=workdir)
    assert freed.returncode == 0 and re.search(r"^applied\s+0001\.", freed.stdout, re.M)


def test_binary_runs_without_any_python_environment(workdir: Path, frozen_binary: Path) -> None:
    result = subprocess.run(
        [str(frozen_binary), "migrate", "--database", f"sqlite:///{workdir / 'x.db'}"],
        cwd=workdir,
        env={"PYTHONPATH": "/nonexistent", "PYTHONHOME": "/nonexistent", "PATH": "/nonexistent"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"^applied\s+0001\.", result.stdout, re.M)
