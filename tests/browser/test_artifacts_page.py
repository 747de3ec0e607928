"""A run's artifacts on its dashboard page, in a real browser signed in to a dashboard that
requires a token: listed with step, item, size and media type, and downloaded by a plain
link to the API (the session cookie lets a signed-in browser read it), as a file, even one
that holds a page and a script."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from tests.browser.conftest import TOKEN, Dashboard
from tests.browser.test_login import sign_in
from tests.support.waiting import wait_until

FLOW = """
name: arts
steps:
  - id: build
    action: shell
    with:
      command: |
        printf 'built fine\\n' > "$EXECUTOR_ARTIFACTS_DIR/report.txt"
        mkdir "$EXECUTOR_ARTIFACTS_DIR/site"
        printf '<script>document.title = "ran"</script>' > "$EXECUTOR_ARTIFACTS_DIR/site/index.html"
        head -c 3000 /dev/zero > "$EXECUTOR_ARTIFACTS_DIR/zeros.bin"
  - id: shard
    action: shell
    for_each: [x, y]
    with: {command: "printf 'shard {{ item }}' > \\"$EXECUTOR_ARTIFACTS_DIR/part.txt\\""}
"""


@pytest.fixture
def downloads(browser: Any, tmp_path: Path) -> Iterator[Path]:
    """A folder the browser saves downloads into, for this test only."""
    folder = tmp_path / "downloads"
    folder.mkdir()
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(folder)})
    yield folder
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "default"})


def downloaded(folder: Path, name: str) -> bytes | None:
    """The file once the browser has finished saving it (no partial .crdownload left)."""
    path = folder / name
    if not path.is_file() or any(p.suffix == ".crdownload" for p in folder.iterdir()):
        return None
    return path.read_bytes() or None


def test_the_run_page_lists_artifacts_and_downloads_them(
    browser: Any, secured_dashboard: Dashboard, downloads: Path
) -> None:
    dashboard = secured_dashboard
    dashboard.push(FLOW)
    run_id = dashboard.start("arts")
    dashboard.wait_status(run_id, "succeeded")
    browser.get(f"{dashboard.url}/ui/runs/{run_id}")
    sign_in(browser, TOKEN)
    assert browser.current_url.endswith(f"/ui/runs/{run_id}")

    rows = browser.find_elements(By.CSS_SELECTOR, "table[data-artifacts] tbody tr")
    cells = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")] for row in rows]
    assert [cell[:3] for cell in cells] == [
        ["report.txt", "build", "11 B"],
        ["site/index.html", "build", "39 B"],
        ["zeros.bin", "build", "2.9 KiB"],
        ["part.txt", "shard item 0", "7 B"],
        ["part.txt", "shard item 1", "7 B"],
    ]
    assert [cell[3] for cell in cells][:3] == ["text/plain", "text/html", "application/octet-stream"]
    assert "Artifacts (5)" in browser.find_element(By.ID, "artifacts-title").text

    def link(row: str) -> Any:
        return browser.find_element(By.CSS_SELECTOR, f'tr[data-artifact="{row}"] a[download]')

    assert link("shard[1]/part.txt").get_attribute("href") == (
        f"{dashboard.url}/runs/{run_id}/artifacts/shard/part.txt?item=1"
    )
    link("build/report.txt").click()
    assert wait_until(lambda: downloaded(downloads, "report.txt"), 20, what="the download") == b"built fine\n"
    link("shard[1]/part.txt").click()
    assert wait_until(lambda: downloaded(downloads, "part.txt"), 20, what="the item's download") == b"shard y"
    # A page among the artifacts is saved, not shown: its script never runs on this origin.
    link("build/site/index.html").click()
    saved = wait_until(lambda: downloaded(downloads, "index.html"), 20, what="the page's download")
    assert saved.startswith(b"<script>")
    assert browser.current_url.endswith(f"/ui/runs/{run_id}") and browser.title != "ran"


def test_without_a_session_the_download_is_refused(browser: Any, secured_dashboard: Dashboard) -> None:
    dashboard = secured_dashboard
    dashboard.push(FLOW)
    run_id = dashboard.start("arts")
    dashboard.wait_status(run_id, "succeeded")
    browser.get(f"{dashboard.url}/runs/{run_id}/artifacts/build/report.txt")
    assert "unauthorized" in browser.find_element(By.TAG_NAME, "body").text
