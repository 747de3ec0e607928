"""What a serving executor loads before it answers: what serving needs, and not the command
line's machinery (typer, click, pydantic, rich), nor what only some requests or databases
need (httpx, jsonschema, yoyo on a migrated database, psycopg on SQLite, OpenTelemetry
without an endpoint, Jinja2 and the dashboard's pages). Each comes when first needed. The
CLI's imports are read from ``python -X importtime``; the binary's from the extension
modules its process maps."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.process import CLI, Server

DEFERRED = frozenset(
    {
        "typer",
        "click",
        "pydantic",
        "rich",
        "httpx",
        "jsonschema",
        "yoyo",
        "psycopg",
        "opentelemetry",
        "jinja2",
    }
)
# The compiled parts of pydantic (typer's), jsonschema (rpds), psycopg, OpenTelemetry's
# protobuf and Jinja2 (markupsafe).
DEFERRED_LIBRARIES = ("pydantic_core", "rpds", "psycopg_binary", "_upb", "markupsafe")
PAGES = "executor.http.ui.pages"


def imported(server: Server) -> set[str]:
    """The modules the process imported so far, from ``-X importtime``'s lines in its log."""
    lines = (line.get("message", "") for line in server.log_lines())
    return {
        line.rsplit("|", 1)[1].strip() for line in lines if line.startswith("import time:") and "|" in line
    }


@pytest.mark.parametrize("flags", [[], ["--skip-migrations"]], ids=["migrating", "skip-migrations"])
def test_serving_loads_what_serving_needs_and_the_rest_when_needed(
    workdir: Path, servers: list[Server], sqlite_url: str, flags: list[str]
) -> None:
    server = Server([CLI[0], "-X", "importtime", *CLI[1:]], workdir, ["--database", sqlite_url, *flags])
    servers.append(server)
    server.start().wait_running()
    assert server.get("/health").status_code == 200
    loaded = imported(server)
    assert "executor.service" in loaded, "the importtime lines are read"
    assert not DEFERRED & {name.split(".")[0] for name in loaded}
    assert PAGES not in loaded
    assert server.get("/ui/runs").status_code == 200
    assert PAGES in imported(server), "the dashboard comes with its first page"


@pytest.mark.binary
def test_the_binary_maps_none_of_the_deferred_libraries(
    frozen_binary: Path, workdir: Path, servers: list[Server], sqlite_url: str
) -> None:
    server = Server([str(frozen_binary)], workdir, ["--database", sqlite_url])
    servers.append(server)
    server.start().wait_running()
    assert server.get("/health").status_code == 200
    assert server.process is not None
    # The bootloader's child runs Executor (`executor.frozen`).
    (child,) = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()
    maps = Path(f"/proc/{child}/maps")
    assert "libpython" in maps.read_text(), "the maps of the Python process are read"
    assert [name for name in DEFERRED_LIBRARIES if name in maps.read_text()] == []
    assert server.get("/ui/runs").status_code == 200
    assert "markupsafe" in maps.read_text(), "Jinja2 comes with the dashboard's first page"
