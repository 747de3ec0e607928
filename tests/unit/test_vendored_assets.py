"""The dashboard's vendored front-end files match their manifest, carry permissive licences, stay
small, and travel in the wheel (docs/vendored.md; scripts/vendor-assets refreshes them)."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "executor" / "http" / "ui" / "static"
VENDOR = STATIC / "vendor"
SCRIPT = ROOT / "scripts" / "vendor-assets"
ALLOWED_LICENCES = {"MIT", "BSD-2-Clause", "BSD-3-Clause", "0BSD", "ISC"}
# What a first page load may cost over the wire, the dashboard's own css/js included.
GZIPPED_BUDGET = 300 * 1024


def manifest_entries() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads((VENDOR / "manifest.json").read_text(encoding="utf-8"))[
        "files"
    ]
    return entries


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("entry", manifest_entries(), ids=lambda entry: str(entry["file"]))
def test_each_vendored_file_is_the_one_the_manifest_pins(entry: dict[str, Any]) -> None:
    path = VENDOR / entry["file"]
    assert path.is_file(), f"{entry['file']} is missing: run scripts/vendor-assets"
    assert sha256(path) == entry["sha256"], (
        f"{entry['file']} differs from {entry['package']}@{entry['version']}"
    )
    assert entry["integrity"].startswith("sha512-")


@pytest.mark.parametrize("entry", manifest_entries(), ids=lambda entry: str(entry["file"]))
def test_each_vendored_file_has_a_permissive_licence_shipped_beside_it(entry: dict[str, Any]) -> None:
    assert entry["licence"] in ALLOWED_LICENCES
    licence = VENDOR / entry["licence_file"]
    assert licence.is_file(), f"{entry['licence_file']} is missing: the binary must carry the licence"
    assert sha256(licence) == entry["licence_sha256"]


def test_the_vendor_folder_holds_only_what_the_manifest_lists() -> None:
    listed = {"manifest.json"} | {e[key] for e in manifest_entries() for key in ("file", "licence_file")}
    assert {path.name for path in VENDOR.iterdir()} == listed


def test_the_script_check_agrees_offline() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_vendored_files_run_from_plain_script_tags() -> None:
    # htmx, then the sse extension, then dagre (with its bundled graphlib) laying out a graph, in
    # a fake browser page: no module loader, only what a <script> tag gives.
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert 'htmx.min.js: globals ["htmx"]' in done.stdout
    assert 'dagre.min.js: globals ["dagre"]' in done.stdout


def test_static_assets_stay_under_the_gzipped_budget() -> None:
    sizes = {
        str(path.relative_to(STATIC)): len(gzip.compress(path.read_bytes(), compresslevel=9))
        for path in sorted(STATIC.rglob("*"))
        if path.is_file()
    }
    assert sum(sizes.values()) < GZIPPED_BUDGET, f"gzipped sizes of executor/http/ui/static: {sizes}"


def test_the_wheel_config_takes_the_whole_package() -> None:
    # hatch puts every file of the `executor` package in the wheel, static files included, unless
    # its config or .gitignore leaves them out (checked by hand: a built wheel lists
    # executor/http/ui/static/vendor/*).
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wheel = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert "executor" in wheel["packages"]
    assert not {"exclude", "only-include"} & set(wheel), wheel


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout")
def test_no_static_file_is_git_ignored_which_would_leave_it_out_of_the_wheel() -> None:
    files = [str(path.relative_to(ROOT)) for path in STATIC.rglob("*") if path.is_file()]
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", *files], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert ignored.stdout == "", f"git-ignored, so hatch leaves them out of the wheel: {ignored.stdout}"
