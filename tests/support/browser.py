"""A real browser for dashboard tests: Debian's chromium driven through chromedriver by
selenium, headless. Where either is missing the tests are skipped with the reason shown,
except under ``CI=true``, where a missing browser fails them (``.ci/run`` installs both)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.support.waiting import wait_until

CHROMIUM = os.environ.get("EXECUTOR_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("EXECUTOR_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
# Chromium's own background traffic would be refused by a closed network, noisily.
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--window-size=1280,900",
]


def browser_unavailable() -> str | None:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not (os.path.exists(path) or shutil.which(path))]
    if missing:
        return f"no browser for the dashboard tests: {', '.join(missing)} missing (apt-get install chromium chromium-driver)"
    return None


def require_browser() -> None:
    reason = browser_unavailable()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}: the browser tests must run in CI")
    pytest.skip(reason)


@contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A headless Chromium under selenium, with a profile of its own, quit afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="executor-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    # Console messages, CSP violations among them, for `console_errors`.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver: Any) -> list[str]:
    """Console messages at level SEVERE since the last call (script errors, CSP refusals)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]


def click_and_load(driver: Any, target: Any, timeout: float = 20.0) -> None:
    """Click ``target`` (an element that submits a form or follows a link) and wait until the
    page it leads to has loaded: a new document (the old one carried a marker) whose
    readyState is complete. Waiting for the old element to go stale is not enough:
    chromedriver may answer mid-navigation with an error about a node of no document."""
    from selenium.common.exceptions import WebDriverException

    driver.execute_script("window.__executorOldPage = true")
    target.click()

    def loaded() -> bool:
        try:
            return bool(
                driver.execute_script(
                    "return !window.__executorOldPage && document.readyState === 'complete'"
                )
            )
        except WebDriverException:  # the old document went away during the call
            return False

    wait_until(loaded, timeout, what="the next page to load")


def body_text(driver: Any) -> str:
    """The page's text, or "" while a navigation leaves no document to read (for waits)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    try:
        return str(driver.find_element(By.TAG_NAME, "body").text)
    except WebDriverException:
        return ""
