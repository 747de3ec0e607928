"""Migrations on both backends: apply, status, idempotence, and the schema check."""

from __future__ import annotations

from pathlib import Path

import pytest

from executor import migrate
from executor.errors import MigrationError, SchemaError
from executor.store.url import DatabaseURL


def known() -> list[str]:
    return sorted(
        p.stem for p in migrate.migrations_dir("sqlite").glob("*.sql") if not p.stem.endswith(".rollback")
    )


def test_both_dialects_have_the_same_migrations() -> None:
    sqlite = sorted(p.name for p in migrate.migrations_dir("sqlite").glob("*.sql"))
    postgres = sorted(p.name for p in migrate.migrations_dir("postgres").glob("*.sql"))
    assert sqlite == postgres and sqlite


def test_apply_then_nothing_to_apply(empty_database_url: str) -> None:
    database = DatabaseURL.parse(empty_database_url)
    assert migrate.status(database).pending == known()
    with pytest.raises(SchemaError, match="executor migrate"):
        migrate.check_schema(database)
    assert migrate.apply(database) == known()
    assert migrate.apply(database) == []
    status = migrate.status(database)
    assert status.applied == known() and status.pending == [] and status.current
    migrate.check_schema(database)


def test_status_of_a_missing_sqlite_file_does_not_create_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"
    status = migrate.status(DatabaseURL.parse(f"sqlite:///{path}"))
    assert status.pending == known() and not path.exists()


def test_a_schema_newer_than_the_binary_is_refused(database_url: str) -> None:
    database = DatabaseURL.parse(database_url)
    migrate.apply(database)
    from yoyo import get_backend

    backend = get_backend(migrate.yoyo_url(database))
    with backend.transaction():
        backend.execute(
            "INSERT INTO _yoyo_migration (migration_hash, migration_id, applied_at_utc) "
            "VALUES ('f00', '9999.from-the-future', '2030-01-01 00:00:00')"
        )
    backend.connection.close()
    assert migrate.status(database).unknown == ["9999.from-the-future"]
    with pytest.raises(SchemaError, match="newer than this executor"):
        migrate.check_schema(database)


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="not a directory"):
        migrate.apply(DatabaseURL.parse(f"sqlite:///{tmp_path / 'no' / 'such.db'}"))
