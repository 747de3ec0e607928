from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import binary, databases

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per session, copied for each test."""
    return databases.sqlite_template(tmp_path_factory.mktemp("template") / "executor.db")


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A PostgreSQL database migrated once per session, copied for each test."""
    with databases.postgres_template() as name:
        yield name


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A migrated SQLite database, for tests that need no other backend."""
    return databases.sqlite_copy(sqlite_template, tmp_path / "executor.db")


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A migrated database of each backend: a copy of the session's template."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_url")
    else:
        with databases.postgres_database(template=request.getfixturevalue("postgres_template")) as url:
            yield url


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each backend, for tests of migrating itself."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'executor.db'}"
    else:
        with databases.postgres_database() as url:
            yield url


_BINARY_UNAVAILABLE = pytest.StashKey[str | None]()


def pytest_collection_finish(session: pytest.Session) -> None:
    # Built here, before the first test, when any selected test needs it: a build inside a
    # fixture would count against that test's timeout.
    if any(item.get_closest_marker("binary") for item in session.items):
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")

        def say(line: str) -> None:
            # A build is a long silence otherwise.
            if reporter is not None:
                reporter.write_line(line)

        session.config.stash[_BINARY_UNAVAILABLE] = binary.ensure_built(say)


@pytest.fixture(scope="session")
def frozen_binary(pytestconfig: pytest.Config) -> Path:
    """``dist/executor``, built before the first test when it is missing or older than its
    sources (see `pytest_collection_finish`)."""
    unavailable = pytestconfig.stash.get(_BINARY_UNAVAILABLE, None)
    if _BINARY_UNAVAILABLE not in pytestconfig.stash:  # selected after collection: build now
        unavailable = binary.ensure_built()
    return binary.require(unavailable)


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A test that asks for the binary is a `binary` test: `-m "not binary"` leaves it out.
    for item in items:
        if "frozen_binary" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.binary)
