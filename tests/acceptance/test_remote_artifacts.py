"""`executor runs artifacts`, spawned for real against a real service (through the proxy that
checks every request against the service's own document): the list in each output format,
--step, --download into DIR/STEP[/ITEM]/NAME with each file checked, a folder that leads
out refused; and against a server that lies (names that climb out, bytes that are not the
ones listed), nothing written where it should not be."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.test_remote_cli import TOKEN, Service, _service, lines, one_error_line
from tests.support.process import CLI, clean_env, run

FLOW = """\
name: NAME
steps:
  - id: build
    action: shell
    with:
      command: |
        mkdir -p "$EXECUTOR_ARTIFACTS_DIR/dist"
        seq 1 300000 > "$EXECUTOR_ARTIFACTS_DIR/dist/numbers.txt"
        printf 'all good\\n' > "$EXECUTOR_ARTIFACTS_DIR/report.txt"
  - id: shard
    action: shell
    for_each: [a, b]
    with: {command: "printf 'shard {{ item }}' > \\"$EXECUTOR_ARTIFACTS_DIR/part.txt\\""}
"""
NUMBERS = "".join(f"{n}\n" for n in range(1, 300_001)).encode()


@pytest.fixture(scope="module")
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The service (SQLite, with a token) behind the recording proxy."""
    yield from _service(request, tmp_path_factory, "sqlite", TOKEN)


@pytest.fixture(scope="module")
def produced(served: Service) -> str:
    """A finished run of FLOW: its id."""
    run_id = served.finished_run(served.push(FLOW, prefix="arts"))
    assert served.api("GET", f"/runs/{run_id}")["status"] == "succeeded"
    return run_id


def test_artifacts_lists_them_in_each_format(served: Service, produced: str) -> None:
    table = served.cli("runs", "artifacts", produced)
    assert table.returncode == 0, table.stderr
    rows = [line.split() for line in lines(table.stdout)]
    assert rows[0] == ["STEP", "NAME", "SIZE", "TYPE", "SHA256", "CREATED"]
    assert [row[:4] for row in rows[1:]] == [
        ["build", "dist/numbers.txt", "1.9", "MiB"],
        ["build", "report.txt", "9", "B"],
        ["shard[0]", "part.txt", "7", "B"],
        ["shard[1]", "part.txt", "7", "B"],
    ]
    listed = json.loads(served.cli("runs", "artifacts", produced, "-o", "json").stdout)
    assert [(a["step"], a["item"], a["name"]) for a in listed] == [
        ("build", None, "dist/numbers.txt"),
        ("build", None, "report.txt"),
        ("shard", 0, "part.txt"),
        ("shard", 1, "part.txt"),
    ]
    assert listed[0]["sha256"] == hashlib.sha256(NUMBERS).hexdigest()
    shards = served.cli("runs", "artifacts", produced, "--step", "shard", "-o", "jsonl")
    assert [json.loads(line)["item"] for line in lines(shards.stdout)] == [0, 1]
    none = served.cli("runs", "artifacts", produced, "--step", "nope")
    assert (none.returncode, none.stdout, none.stderr.strip()) == (
        0,
        "",
        f"run {produced} has no artifacts of step nope",
    )


def test_download_saves_each_checked_under_its_step_and_item(
    served: Service,
    produced: str,
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    result = served.cli("runs", "artifacts", produced, "--download", str(out))
    assert result.returncode == 0, result.stderr
    saved = {
        "build/dist/numbers.txt": NUMBERS,
        "build/report.txt": b"all good\n",
        "shard/0/part.txt": b"shard a",
        "shard/1/part.txt": b"shard b",
    }
    assert lines(result.stdout) == [str(out / name) for name in saved]
    assert result.stderr.strip() == f"downloaded 4 artifacts (1.9 MiB) into {out}"
    files = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert files == saved, "each whole, and no temporary file left"
    # Again, only one step's, over what is there: replaced, as jsonl.
    (out / "build" / "report.txt").write_text("stale")
    again = served.cli("runs", "artifacts", produced, "-s", "build", "-d", str(out), "-o", "jsonl")
    assert [json.loads(line)["path"] for line in lines(again.stdout)] == [
        str(out / "build/dist/numbers.txt"),
        str(out / "build/report.txt"),
    ]
    assert (out / "build" / "report.txt").read_bytes() == b"all good\n"


def test_download_refuses_a_folder_that_leads_out(served: Service, produced: str, tmp_path: Path) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "build").symlink_to(elsewhere)
    result = served.cli("runs", "artifacts", produced, "--step", "build", "-d", str(out))
    assert result.returncode == 1
    assert one_error_line(result) == (
        f"executor: error: artifact 'dist/numbers.txt' not saved: {out}/build is not a folder of {out} "
        "(a file, or a link)"
    )
    assert list(elsewhere.iterdir()) == []


def test_an_unknown_run_is_one_error_line(served: Service) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    result = served.cli("runs", "artifacts", unknown, "-d", "somewhere")
    assert result.returncode == 1
    assert one_error_line(result) == f"executor: error: not_found (404): no run {unknown}"


# --- a server that lies -------------------------------------------------------------------


class Liar:
    """Answers a run's artifact list with ``listed`` and every download with ``content``."""

    def __init__(self, listed: list[dict[str, Any]], content: bytes) -> None:
        outer = self
        self.downloads: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.endswith("/artifacts"):
                    body, kind = json.dumps({"artifacts": listed}).encode(), "application/json"
                else:
                    outer.downloads.append(self.path)
                    body, kind = content, "application/octet-stream"
                self.send_response(200)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def __enter__(self) -> Liar:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def artifact(step: str, name: str, content: bytes, item: int | None = None) -> dict[str, Any]:
    return {
        "step": step,
        "item": item,
        "name": name,
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "media_type": "text/plain",
        "attempt": 1,
        "created_at": "2026-01-01T00:00:00Z",
        "url": "/ignored",
    }


@pytest.mark.parametrize(
    ("listed", "refused"),
    [
        ([artifact("build", "../../escape.txt", b"x")], "'..' would lead out of"),
        ([artifact("build", "/etc/escape.txt", b"x")], "'' would lead out of"),
        ([artifact("..", "escape.txt", b"x")], "'..' would lead out of"),
        ([artifact("build/../..", "escape.txt", b"x")], "would lead out of"),
        ([artifact("build", "a\\..\\..\\escape.txt", b"x")], "is not a file name"),
        ([artifact("build", "ok/\x00", b"x")], "is not a file name"),
    ],
    ids=["dot-dot", "absolute", "step", "step-with-slashes", "backslashes", "nul"],
)
def test_names_a_server_sends_cannot_lead_out(
    tmp_path: Path, listed: list[dict[str, Any]], refused: str
) -> None:
    out = tmp_path / "a" / "b" / "out"
    with Liar(listed, b"x") as liar:
        result = run(
            CLI,
            "runs",
            "artifacts",
            "r1",
            "-d",
            str(out),
            cwd=tmp_path,
            env=clean_env(EXECUTOR_SERVER=liar.url),
        )
    assert result.returncode == 1, result.stdout
    assert refused in one_error_line(result)
    assert liar.downloads == [], "refused before any byte was fetched"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [], "nothing written anywhere"


def test_bytes_that_are_not_the_listed_ones_are_not_kept(tmp_path: Path) -> None:
    listed = [artifact("build", "report.txt", b"the real report")]
    with Liar(listed, b"something else!") as liar:
        result = run(
            CLI,
            "runs",
            "artifacts",
            "r1",
            "-d",
            str(tmp_path),
            cwd=tmp_path,
            env=clean_env(EXECUTOR_SERVER=liar.url),
        )
    assert result.returncode == 1
    digest = hashlib.sha256(b"something else!").hexdigest()
    assert one_error_line(result) == (
        f"executor: error: artifact 'report.txt' not saved: its sha256 is {digest}, "
        f"the server listed {listed[0]['sha256']}"
    )
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")] == ["build"], (
        "no file, no temporary"
    )
