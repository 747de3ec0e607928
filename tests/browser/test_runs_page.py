"""The runs page in a real browser: the list, its filters and its live status."""

from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver.common.by import By

from tests.browser.conftest import Dashboard
from tests.support.waiting import wait_until

FLOW = """
name: hello
steps:
  - id: greet
    action: shell
    with: {command: echo hello}
"""


def test_runs_list_shows_runs_and_filters_by_workflow(browser: Any, dashboard: Dashboard) -> None:
    dashboard.push(FLOW)
    first = dashboard.start("hello")
    dashboard.wait_status(first, "succeeded")
    browser.get(dashboard.url + "/")
    assert browser.current_url.endswith("/ui/runs")
    row = wait_until(
        lambda: browser.find_elements(By.CSS_SELECTOR, f'tr[data-run="{first}"]'), what="the run's row"
    )
    assert "succeeded" in row[0].text
    browser.get(dashboard.url + "/ui/runs?workflow=nothing-like-this")
    assert not browser.find_elements(By.CSS_SELECTOR, f'tr[data-run="{first}"]')
    assert "No runs match" in browser.find_element(By.CSS_SELECTOR, "table.runs").text


@pytest.mark.parametrize("field", ["status", "since"])
def test_a_bad_filter_is_named_not_a_crash(browser: Any, dashboard: Dashboard, field: str) -> None:
    browser.get(dashboard.url + f"/ui/runs?{field}=bogus")
    error = browser.find_element(By.ID, f"{field}-error")
    assert "bogus" in error.text
