"""Schema migrations: a thin wrapper over yoyo that knows where our migrations live.

Migrations are plain SQL files in ``migrations/<dialect>/``. They are found in the source
tree, inside an installed wheel (``executor/_migrations``) and inside the frozen binary
(PyInstaller's ``sys._MEIPASS``). Applying them is safe from many processes at once: yoyo
takes its lock row first, and decides what is pending only once it holds the lock.

Most starts find every migration already applied. That is read first, without yoyo (slow to
import, and it writes to the database before it reads): one query of the table where yoyo
records what it applied. A migration once recorded stays applied, so when all of this
binary's are there nothing can be pending and the lock is not needed; anything else (a new
database, one migration missing, a read that fails) goes the whole way through yoyo.

yoyo is synchronous and deaf to stop requests, so a command runs it in a thread of its own
(`in_thread`) and tells it of a stop through `Stop`. Until it tries to take the lock it
holds nothing, and a stop leaves it behind at once (a connection attempt to an unreachable
server included). From then on it stops at the next point where stopping leaves nothing
half done: while waiting for the lock (it looks again every `LOCK_POLL` seconds), or
between two migrations (each is applied and recorded before the next), releasing the lock.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from loguru import logger

from executor import settings
from executor.durations import format_duration
from executor.errors import MigrationError, SchemaError
from executor.lifecycle import Interrupted, Lifecycle
from executor.store.url import DatabaseURL, sqlite_location_problem

T = TypeVar("T")

# How often a migration waiting for another one's lock tries again, and looks for a stop.
LOCK_POLL = 0.25
# How long connecting to PostgreSQL may take (libpq waits forever without it).
CONNECT_TIMEOUT = 10


def migrations_dir(dialect: str) -> Path:
    here = Path(__file__).resolve().parent
    candidates = [
        here / "_migrations" / dialect,  # installed wheel
        here.parent / "migrations" / dialect,  # source tree
    ]
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:  # frozen binary
        candidates.insert(0, Path(bundle) / "migrations" / dialect)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise MigrationError(f"no {dialect} migrations found (looked in {', '.join(map(str, candidates))})")


def yoyo_url(database: DatabaseURL) -> str:
    if database.dialect == "sqlite":
        return database.url
    # yoyo's plain postgresql:// backend is psycopg2's; we ship psycopg 3.
    url = "postgresql+psycopg://" + database.url.split("://", 1)[1]
    if "connect_timeout=" not in url:  # yoyo passes the query's parameters to psycopg
        url += f"{'&' if '?' in url else '?'}connect_timeout={CONNECT_TIMEOUT}"
    return url


class Stop:
    """A stop request as a migrating thread sees it, and what that thread holds.

    The thread names what it does (`at`, which also stops there if asked) and calls `check`
    where stopping leaves nothing half done. Inside `holding` (from its first try at the lock
    until it has let go of it), a stop waits for its next `check`; outside, the thread holds
    nothing and may be left behind.
    """

    def __init__(self, lifecycle: Lifecycle | None = None) -> None:
        self._lifecycle = lifecycle
        self.phase = lifecycle.phase if lifecycle is not None else "migrating"
        self._requested = threading.Event()
        self._holding = False

    def at(self, phase: str) -> None:
        self.phase = phase
        if self._lifecycle is not None:  # for the log line of a stop
            self._lifecycle.phase = phase
        self.check()

    def check(self) -> None:
        if self._requested.is_set():
            raise Interrupted(self.phase)

    @contextmanager
    def holding(self) -> Iterator[None]:
        self._holding = True
        try:
            self.check()  # after saying so: a stop asked meanwhile is seen here, or waits
            yield
        finally:
            self._holding = False

    def requested(self) -> bool:
        """Whether a stop was asked for (for work that polls rather than calls `check`)."""
        return self._requested.is_set()

    def request(self) -> bool:
        """Ask the thread to stop; return whether it holds nothing (and may be left behind)."""
        self._requested.set()
        return not self._holding


async def in_thread(lifecycle: Lifecycle, phase: str, work: Callable[[Stop], T]) -> T:
    """Run blocking ``work`` (one step of the start, named ``phase``) in a thread of its own
    and return what it returns, unless a stop is requested first: then raise `Interrupted`
    as soon as the thread holds nothing.

    A daemon thread, not the loop's executor: a thread left behind (still connecting, say)
    must not hold up the end of the process."""
    if lifecycle.stop_requested.is_set():
        raise Interrupted(phase)
    lifecycle.phase = phase
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()
    stop = Stop(lifecycle)

    def settle(outcome: Callable[[], None]) -> None:
        try:
            loop.call_soon_threadsafe(lambda: None if done.done() else outcome())
        except RuntimeError:  # the loop is closed: this thread was left behind
            pass

    def target() -> None:
        try:
            result = work(stop)
        except BaseException as exc:
            error = exc  # `exc` is unbound when the except clause ends
            settle(lambda: done.set_exception(error))
        else:
            settle(lambda: done.set_result(result))

    stopped: asyncio.Future[Any] = asyncio.ensure_future(lifecycle.stop_requested.wait())
    threading.Thread(target=target, name="executor-migrate", daemon=True).start()
    try:
        await asyncio.wait({done, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if not done.done() and stop.request():
        done.cancel()
        raise Interrupted(stop.phase)
    return await done  # it stops at its next check, having released the lock


@dataclass(frozen=True)
class Status:
    applied: list[str]
    pending: list[str]
    # applied to the database but unknown to this binary: the schema is newer than we are
    unknown: list[str]

    @property
    def current(self) -> bool:
        return not self.pending and not self.unknown


def _load(database: DatabaseURL) -> tuple[Any, Any]:
    # yoyo is imported here, not at the top: only migrating commands pay for it.
    from yoyo import get_backend, read_migrations

    try:
        backend = get_backend(yoyo_url(database))
    except Exception as exc:
        raise MigrationError(f"cannot open database {database.redacted()}: {_reason(exc)}") from exc
    return backend, read_migrations(str(migrations_dir(database.dialect)))


def _create_private(database: DatabaseURL) -> None:
    """Create a new SQLite database file readable and writable by its owner only (0600): it
    holds every run's inputs, outputs and logs. SQLite gives the -wal and -shm files it
    creates beside it the same mode. An existing file is left as it is."""
    path = database.sqlite_path
    problem = sqlite_location_problem(path)
    if problem is not None:
        raise MigrationError(f"cannot use database {database.url}: {problem}")
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:
        raise MigrationError(f"cannot create database {database.url}: {exc.strerror or exc}") from exc


# yoyo's record of what it applied (yoyo.migrations.default_migration_table), oldest first.
_APPLIED_SQL = "SELECT migration_id FROM _yoyo_migration ORDER BY applied_at_utc"


def _known_ids(dialect: str) -> list[str] | None:
    """The ids yoyo gives this binary's migrations (file names without ``.sql``, in order),
    found without yoyo; None when the folder holds more than plain SQL migrations (yoyo's
    rollbacks, post-apply hooks or Python migrations): then yoyo must read it."""
    ids = []
    for path in sorted(migrations_dir(dialect).iterdir()):
        if path.suffix != ".sql" or path.name.endswith(".rollback.sql") or path.name.startswith("post-apply"):
            return None
        ids.append(path.stem)
    return ids


def _recorded(database: DatabaseURL) -> list[str] | None:
    """The ids of the migrations applied to ``database``, by a plain read of yoyo's table
    (nothing created, no lock); None when they cannot be read so (no table yet, a SQLite
    file busy or unreadable): then yoyo must look. A PostgreSQL server that cannot be reached
    is a `MigrationError`, as from yoyo."""
    if database.dialect == "sqlite":
        try:
            with closing(sqlite3.connect(database.sqlite_path, isolation_level=None)) as db:
                return [row[0] for row in db.execute(_APPLIED_SQL)]
        except sqlite3.Error:
            return None
    import psycopg  # here: SQLite databases never need it

    url = database.url
    if "connect_timeout=" not in url:  # as `yoyo_url` gives yoyo
        url += f"{'&' if '?' in url else '?'}connect_timeout={CONNECT_TIMEOUT}"
    try:
        connection = psycopg.connect(url, autocommit=True)
    except psycopg.Error as exc:
        raise MigrationError(f"cannot open database {database.redacted()}: {_reason(exc)}") from exc
    try:
        with connection:
            return [row[0] for row in connection.execute(_APPLIED_SQL)]
    except psycopg.Error:
        return None


def _status_of(known: list[str], applied: list[str]) -> Status:
    return Status(
        applied=applied,
        pending=[m for m in known if m not in applied],
        unknown=[m for m in applied if m not in known],
    )


def _reason(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _applied_ids(backend: Any) -> list[str]:
    """Ids of applied migrations, read without creating yoyo's bookkeeping tables."""
    if backend.migration_table not in backend.list_tables():
        return []
    cursor = backend.execute(
        f"SELECT migration_id FROM {backend.migration_table_quoted} ORDER BY applied_at_utc"
    )
    return [row[0] for row in cursor.fetchall()]


def status(database: DatabaseURL) -> Status:
    if database.dialect == "sqlite" and not database.sqlite_path.exists():
        # Do not create an empty database file just to say that it is empty.
        known = [m.id for m in _known_migrations(database)]
        return Status(applied=[], pending=known, unknown=[])
    ids = _known_ids(database.dialect)
    recorded = _recorded(database) if ids is not None else None
    if ids is not None and recorded is not None:
        return _status_of(ids, recorded)
    backend, migrations = _load(database)
    try:
        applied = _applied_ids(backend)
    except backend.DatabaseError as exc:
        raise MigrationError(f"cannot read migration state: {_reason(exc)}") from exc
    finally:
        backend.connection.close()
    return _status_of([m.id for m in migrations], applied)


def _known_migrations(database: DatabaseURL) -> Any:
    from yoyo import read_migrations

    return read_migrations(str(migrations_dir(database.dialect)))


def apply(
    database: DatabaseURL, lock_timeout: float = settings.default("lock_timeout"), stop: Stop | None = None
) -> list[str]:
    """Apply every pending migration; return the ids applied by this call (maybe none).

    ``lock_timeout``: how long to wait for another migrating process to finish. ``stop``:
    how a stop request reaches this call (see `Stop`); it raises `Interrupted` with the lock
    released and every migration it applied recorded.
    """
    stop = stop or Stop()
    if database.dialect == "sqlite":
        _create_private(database)
    stop.at("connecting to the database")
    if _at_head(database):
        return []
    backend, migrations = _load(database)
    applied: list[str] = []
    try:
        with stop.holding(), _locked(backend, lock_timeout, stop):
            stop.at("applying migrations")
            pending = backend.to_apply(migrations)
            for index, migration in enumerate(pending):
                stop.check()
                logger.info("applying migration {}", migration.id)
                # One at a time (yoyo's own loop): each is applied and recorded before a stop.
                backend.apply_migrations_only(pending[index : index + 1])
                applied.append(migration.id)
            backend.run_post_apply(pending)
            if database.dialect == "sqlite":
                _incremental_auto_vacuum(database.sqlite_path, stop)
    except backend.DatabaseError as exc:
        raise MigrationError(f"migration failed: {_reason(exc)}") from exc
    except Interrupted:
        if applied:
            logger.info("stopped after applying {} of the pending migrations", len(applied))
        raise
    finally:
        backend.connection.close()
    return applied


def _at_head(database: DatabaseURL) -> bool:
    """Whether ``database`` already records every migration of this binary (and, for SQLite,
    has its incremental auto-vacuum on): then `apply` has nothing to do, lock or no lock."""
    ids = _known_ids(database.dialect)
    recorded = _recorded(database) if ids is not None else None
    if ids is None or recorded is None or _status_of(ids, recorded).pending:
        return False
    if database.dialect == "sqlite":
        try:
            with closing(sqlite3.connect(database.sqlite_path, isolation_level=None)) as db:
                return bool(db.execute("PRAGMA auto_vacuum").fetchone()[0] == _INCREMENTAL)
        except sqlite3.Error:
            return False
    return True


def _incremental_auto_vacuum(path: Path, stop: Stop) -> None:
    """Turn on SQLite's incremental auto-vacuum, once per database, so that retention gives
    the pages of deleted runs back to the file system (`Store.reclaim_space`).

    The mode can only change with a VACUUM, which rewrites the file: instant for a new
    database, seconds per gigabyte for one made by an older executor (and as much free disk
    again, for the copy). A stop aborts it, the file left as it was; so does another process
    writing to the database meanwhile (logged). Either way the next migrate tries again.
    """
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        # Administrative pragmas, not queries of the store: they stay beside their reason.
        if db.execute("PRAGMA auto_vacuum").fetchone()[0] == _INCREMENTAL:
            return
        pages, page_size = (db.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "page_size"))
        if pages > _QUIET_PAGES:
            logger.info(
                "turning on incremental auto-vacuum: rewriting the {:.0f} MB database once",
                pages * page_size / 2**20,
            )
        db.execute(f"PRAGMA busy_timeout = {_VACUUM_BUSY_MS}")
        # Looks for a stop every few thousand steps of the VACUUM's program (milliseconds).
        db.set_progress_handler(stop.requested, 10_000)
        db.execute("PRAGMA auto_vacuum = INCREMENTAL")
        try:
            db.execute("VACUUM")
        except sqlite3.Error as exc:
            stop.check()  # interrupted by a stop: say so, as any other stop
            logger.warning(
                "incremental auto-vacuum not turned on ({}): the next `executor migrate` tries again",
                _reason(exc),
            )


_INCREMENTAL = 2  # PRAGMA auto_vacuum
_QUIET_PAGES = 2560  # 10 MB of 4 KiB pages: quicker than a log line is worth
_VACUUM_BUSY_MS = 5000  # waiting for another process's write to end


@contextmanager
def _locked(backend: Any, timeout: float, stop: Stop) -> Iterator[None]:
    """Hold yoyo's migration lock for the block. While another process holds it, try again
    (every `LOCK_POLL` seconds, looking for a stop in between) for up to ``timeout``."""
    from yoyo.exceptions import LockTimeout

    deadline = time.monotonic() + timeout
    with ExitStack() as held:
        while True:
            try:
                held.enter_context(backend.lock(timeout=LOCK_POLL))
                break
            except LockTimeout as exc:
                if time.monotonic() >= deadline:
                    raise MigrationError(
                        f"another process has held the migration lock for over {format_duration(timeout)}; "
                        "if no `executor migrate` is running (one was killed mid-way), run "
                        "`executor migrate --break-lock`"
                    ) from exc
                if stop.phase != _WAITING:
                    logger.info(
                        "another process holds the migration lock; waiting for it (up to {})",
                        format_duration(timeout),
                    )
                stop.at(_WAITING)
        yield


_WAITING = "waiting for the migration lock"


def break_lock(database: DatabaseURL) -> None:
    """Remove a migration lock left behind by a migrating process that was killed."""
    backend, _ = _load(database)
    try:
        backend.break_lock()
    except backend.DatabaseError as exc:
        raise MigrationError(f"cannot break the migration lock: {_reason(exc)}") from exc
    finally:
        backend.connection.close()


def check_schema(database: DatabaseURL) -> None:
    """Raise `SchemaError` unless the database is at exactly this binary's schema."""
    current = status(database)
    if current.unknown:
        raise SchemaError(
            "the database schema is newer than this executor "
            f"(unknown migrations: {', '.join(current.unknown)}); upgrade executor"
        )
    if current.pending:
        raise SchemaError(
            f"the database schema is not up to date ({len(current.pending)} migration(s) pending: "
            f"{', '.join(current.pending)}); run `executor migrate`"
        )


__all__ = ["Status", "apply", "break_lock", "check_schema", "migrations_dir", "status"]
