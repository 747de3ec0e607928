"""Migrations on both backends: apply, status, idempotence, and the schema check."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from executor import migrate
from executor.errors import MigrationError, SchemaError
from executor.store import Instance, create_store
from executor.store.url import DatabaseURL
from tests.support.databases import POOL_SIZE


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


def modes(folder: Path) -> dict[str, int]:
    return {f.name: stat.S_IMODE(f.stat().st_mode) for f in folder.glob("executor.db*")}


async def test_a_new_sqlite_database_and_its_wal_files_are_readable_by_their_owner_only(
    tmp_path: Path,
) -> None:
    database = DatabaseURL.parse(f"sqlite:///{tmp_path / 'executor.db'}")
    migrate.apply(database)
    async with create_store(database, pool_size=POOL_SIZE) as store:
        await store.register_instance(Instance("i", "h", 1, "v", "idle"))  # a write: WAL files exist
        assert modes(tmp_path) == {"executor.db": 0o600, "executor.db-shm": 0o600, "executor.db-wal": 0o600}


def test_an_existing_database_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "executor.db"
    path.touch(mode=0o640)
    path.chmod(0o640)
    migrate.apply(DatabaseURL.parse(f"sqlite:///{path}"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def _yoyo_pending(database: DatabaseURL) -> list[str]:
    """What yoyo itself says is pending."""
    from yoyo import get_backend, read_migrations

    backend = get_backend(migrate.yoyo_url(database))
    try:
        migrations = read_migrations(str(migrate.migrations_dir(database.dialect)))
        return [m.id for m in backend.to_apply(migrations)]
    finally:
        backend.connection.close()


def _apply_first(database: DatabaseURL, count: int) -> None:
    """Apply only the first ``count`` migrations, as an older executor would have."""
    from yoyo import get_backend, read_migrations

    backend = get_backend(migrate.yoyo_url(database))
    try:
        migrations = read_migrations(str(migrate.migrations_dir(database.dialect)))
        with backend.lock():
            backend.apply_migrations(backend.to_apply(migrations[:count]))
    finally:
        backend.connection.close()


@pytest.mark.parametrize("applied", [0, 1, 3, "all"])
def test_the_quick_reading_of_the_status_agrees_with_yoyo(
    empty_database_url: str, applied: int | str
) -> None:
    database = DatabaseURL.parse(empty_database_url)
    count = len(known()) if applied == "all" else int(applied)
    _apply_first(database, count)
    status = migrate.status(database)
    assert status.applied == known()[:count]
    assert status.pending == _yoyo_pending(database) == known()[count:]
    assert status.unknown == []


def test_a_database_with_every_migration_is_not_waited_on_for_the_lock(database_url: str) -> None:
    """Nothing can be pending, so the lock another process holds (or a killed one left) does not matter."""
    database = DatabaseURL.parse(database_url)
    from yoyo import get_backend

    holder = get_backend(migrate.yoyo_url(database))
    try:
        with holder.lock():
            assert migrate.apply(database, lock_timeout=0.5) == []
            migrate.check_schema(database)
    finally:
        holder.connection.close()


def test_a_database_missing_a_migration_still_waits_for_the_lock(empty_database_url: str) -> None:
    database = DatabaseURL.parse(empty_database_url)
    _apply_first(database, len(known()) - 1)
    from yoyo import get_backend

    holder = get_backend(migrate.yoyo_url(database))
    try:
        with holder.lock(), pytest.raises(MigrationError, match="held the migration lock"):
            migrate.apply(database, lock_timeout=0.5)
    finally:
        holder.connection.close()
    assert migrate.apply(database) == known()[-1:]
