"""The dashboard travels with every way Executor ships: the CLI from the source tree and the
frozen binary serve its pages and the exact vendored files the manifest pins."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.support.process import ROOT, Server, clean_env

MANIFEST = ROOT / "executor" / "http" / "ui" / "static" / "vendor" / "manifest.json"
OWN_ASSETS = ["ui.css", "ui.js", "graph.js"]


def test_pages_and_pinned_assets_are_served(
    executor: list[str], workdir: Path, servers: list[Server]
) -> None:
    server = Server(executor, workdir, [], clean_env())
    servers.append(server)
    server.start().wait_running()
    home = server.get("/")
    assert home.status_code == 307 and home.headers["location"] == "/ui/runs"
    page = server.get("/ui/runs")
    assert page.status_code == 200 and "<title>Runs · Executor</title>" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for entry in json.loads(MANIFEST.read_text())["files"]:
        served = server.get(f"/ui/static/vendor/{entry['file']}")
        assert served.status_code == 200, entry["file"]
        assert hashlib.sha256(served.content).hexdigest() == entry["sha256"], entry["file"]
        licence = server.get(f"/ui/static/vendor/{entry['licence_file']}")
        assert licence.status_code == 200 and licence.content, entry["licence_file"]
    for name in OWN_ASSETS:
        served = server.get(f"/ui/static/{name}")
        assert served.status_code == 200 and served.content == (MANIFEST.parents[1] / name).read_bytes(), name
