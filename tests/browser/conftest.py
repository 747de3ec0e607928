"""Dashboard tests in a real browser against the real service.

``dashboard`` starts ``executor serve`` on a free port on each backend (SQLite file or a
PostgreSQL database of its own); ``secured_dashboard`` does the same with an API token.
``browser`` is one headless Chromium per test session (per xdist worker), its cookies cleared
before each test; ``Dashboard`` has the API calls tests use to set the scene.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.browser import chromium, console_errors, require_browser
from tests.support.process import CLI, Server
from tests.support.waiting import wait_until

TOKEN = "browser-test-token-1"


@dataclass
class Dashboard:
    server: Server
    token: str | None = None

    @property
    def url(self) -> str:
        return self.server.url

    def api(
        self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        sent = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.request(
            method, self.url + path, headers={**sent, **(headers or {})}, timeout=10, **kwargs
        )

    def push(self, yaml_text: str) -> dict[str, Any]:
        response = self.api(
            "POST", "/workflows", content=yaml_text.encode(), headers={"Content-Type": "application/yaml"}
        )
        assert response.status_code in (200, 201), response.text
        answer: dict[str, Any] = response.json()
        return answer

    def start(self, workflow: str, run_input: Any = None) -> str:
        response = self.api("POST", "/runs", json={"workflow": workflow, "input": run_input or {}})
        assert response.status_code in (200, 201), response.text
        run_id: str = response.json()["id"]
        return run_id

    def run(self, run_id: str) -> dict[str, Any]:
        response = self.api("GET", f"/runs/{run_id}")
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def wait_status(self, run_id: str, *statuses: str, timeout: float = 30) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            run = self.run(run_id)
            return run if run["status"] in statuses else None

        return wait_until(
            reached,
            timeout,
            what=f"run {run_id} to be {'/'.join(statuses)}",
        )


def _serve(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: str, token: str | None
) -> Iterator[Dashboard]:
    args = ["--database", database_url]
    if token:
        args += ["--api-token", token]
    server = Server(CLI, tmp_path, args=args).start()
    try:
        server.wait_running()
        yield Dashboard(server, token)
    finally:
        browser = getattr(request.node, "funcargs", {}).get("browser")
        if browser is not None:
            # Leave the page first: a page that refreshes itself would log the service's
            # going away as an error.
            browser.get("about:blank")
        server.stop()


@pytest.fixture
def dashboard(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Iterator[Dashboard]:
    yield from _serve(request, tmp_path, database_url, None)


@pytest.fixture
def secured_dashboard(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: str
) -> Iterator[Dashboard]:
    yield from _serve(request, tmp_path, database_url, TOKEN)


@pytest.fixture(scope="session")
def _chromium() -> Iterator[Any]:
    require_browser()
    with chromium() as driver:
        yield driver


@pytest.fixture
def browser(_chromium: Any) -> Iterator[Any]:
    """The session's browser with no cookies and an empty console; after the test, no
    script error and no Content-Security-Policy refusal may have been logged."""
    # delete_all_cookies() only reaches the current page's origin; this clears every one
    # (another test's service on another port shares the host, and cookies ignore ports).
    _chromium.execute_cdp_cmd("Network.clearBrowserCookies", {})
    _chromium.get("about:blank")
    console_errors(_chromium)
    yield _chromium
    # A page answered with a 4xx on purpose logs "Failed to load resource"; an asset that
    # fails to load (under /ui/static/) is a real error.
    errors = [
        line
        for line in console_errors(_chromium)
        if "Failed to load resource" not in line or "/ui/static/" in line
    ]
    assert not errors, f"the browser console logged errors: {errors}"
