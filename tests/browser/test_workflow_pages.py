"""The workflows list, a workflow's page (source, versions, diff), and the instances page."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.browser.conftest import Dashboard
from tests.support.browser import click_and_load
from tests.support.waiting import wait_until

V1 = """
name: ship
description: "Ships <script>window.pwned = 1</script> things"
steps:
  - id: build
    action: shell
    with: {command: [echo, built]}
  - id: upload
    action: noop
    needs: [build]
"""
V2 = V1.replace("[echo, built]", "[echo, rebuilt]")


def test_the_list_shows_each_workflow_with_its_runs(browser: Any, dashboard: Dashboard) -> None:
    dashboard.push(V1)
    run_id = dashboard.start("ship")
    dashboard.wait_status(run_id, "succeeded")
    browser.get(dashboard.url + "/ui/workflows")
    row = browser.find_element(By.CSS_SELECTOR, 'tr[data-workflow="ship"]')
    assert "Ships <script>window.pwned = 1</script> things" in row.text
    assert browser.execute_script("return window.pwned === undefined")
    assert row.find_element(By.CSS_SELECTOR, "td.rate").text == "100%"
    count = row.find_element(By.CSS_SELECTOR, "a.count")
    assert count.text == "succeeded 1"
    assert count.get_attribute("href").endswith("/ui/runs?workflow=ship&status=succeeded")
    row.find_element(By.LINK_TEXT, "ship").click()
    wait_until(lambda: browser.current_url.endswith("/ui/workflows/ship"), what="the workflow's page")


def test_the_page_shows_the_source_as_text_and_the_versions(browser: Any, dashboard: Dashboard) -> None:
    dashboard.push(V1)
    dashboard.push(V2)
    browser.get(dashboard.url + "/ui/workflows/ship")
    assert browser.find_element(By.CSS_SELECTOR, "h1").text.startswith("ship v2")
    description = browser.find_element(By.CSS_SELECTOR, "p.description").text
    assert description == "Ships <script>window.pwned = 1</script> things"
    assert browser.execute_script("return window.pwned === undefined")
    source = browser.find_element(By.ID, "source").text
    assert "window.pwned" in source and "[echo, rebuilt]" in source
    versions = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "table.versions td:first-child a")]
    assert versions == ["v2", "v1"]
    steps = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "table.steps td:first-child")]
    assert steps == ["build", "upload"]
    assert browser.find_element(By.CSS_SELECTOR, "figure.graph[data-graph]")
    # An older version: its own source, and a pointer to the latest.
    browser.find_element(By.LINK_TEXT, "v1").click()
    wait_until(lambda: browser.current_url.endswith("/ui/workflows/ship?version=1"), what="version 1")
    assert "[echo, built]" in browser.find_element(By.ID, "source").text
    assert "latest is v2" in browser.find_element(By.CSS_SELECTOR, "h1").text


def test_a_diff_between_two_versions(browser: Any, dashboard: Dashboard) -> None:
    dashboard.push(V1)
    dashboard.push(V2)
    browser.get(dashboard.url + "/ui/workflows/ship")
    form = browser.find_element(By.CSS_SELECTOR, "form.diff-form")
    assert Select(form.find_element(By.NAME, "from")).first_selected_option.text == "v1"
    assert Select(form.find_element(By.NAME, "to")).first_selected_option.text == "v2"
    click_and_load(browser, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    assert browser.current_url.endswith("/ui/workflows/ship/diff?from=1&to=2")
    added = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".diff .add")]
    removed = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".diff .del")]
    assert added == ["+    with: {command: [echo, rebuilt]}"]
    assert removed == ["-    with: {command: [echo, built]}"]
    # The same version twice: nothing differs.
    browser.get(dashboard.url + "/ui/workflows/ship/diff?from=2&to=2")
    assert "the same" in browser.find_element(By.ID, "diff").text


def test_a_missing_workflow_or_version_is_a_page_not_a_json_body(browser: Any, dashboard: Dashboard) -> None:
    dashboard.push(V1)
    browser.get(dashboard.url + "/ui/workflows/nothing-here")
    assert "no workflow nothing-here" in browser.find_element(By.CSS_SELECTOR, ".error-message").text
    browser.get(dashboard.url + "/ui/workflows/ship?version=7")
    assert "no workflow ship version 7" in browser.find_element(By.CSS_SELECTOR, ".error-message").text
    browser.get(dashboard.url + "/ui/workflows/ship/diff?from=x")
    assert "from must be a version number" in browser.find_element(By.CSS_SELECTOR, ".error-message").text


def test_the_instances_page_lists_the_running_instance(browser: Any, dashboard: Dashboard) -> None:
    browser.get(dashboard.url + "/ui/instances")
    row = browser.find_element(By.CSS_SELECTOR, "tr[data-instance]")
    assert row.get_attribute("data-state") == "running"
    assert "this one" in row.text and "running" in row.text
    assert "s ago" in row.find_element(By.CSS_SELECTOR, "td.heartbeat").text
    assert row.find_element(By.CSS_SELECTOR, "td.in-flight").text == "0"
    # The table refreshes itself: leave before the service stops, or the refresh fails loudly.
    browser.get("about:blank")
