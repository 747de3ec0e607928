"""Bulk cancel and retry from the dashboard: a confirmation with the exact count and the filter
in words, then exactly those runs changed; runs that arrive after the confirmation are not
swept in, and a count that changed in between is said."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from selenium.webdriver.common.by import By

from tests.browser.conftest import Dashboard
from tests.support.browser import click_and_load
from tests.support.waiting import wait_until

NAP = """
name: nap
steps:
  - id: sleep
    action: sleep
    with: {duration: 120s}
"""
OTHER = NAP.replace("name: nap", "name: other")
FAILS = """
name: fails
steps:
  - id: no
    action: shell
    with: {command: exit 1}
"""


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def started(dashboard: Dashboard, workflow: str) -> str:
    run_id = dashboard.start(workflow)
    dashboard.wait_status(run_id, "running")
    return run_id


def confirm(browser: Any) -> None:
    click_and_load(browser, browser.find_element(By.ID, "bulk-confirm"))


def test_bulk_cancel_confirms_the_exact_runs_and_leaves_later_ones(
    browser: Any, dashboard: Dashboard
) -> None:
    dashboard.push(NAP)
    dashboard.push(OTHER)
    naps = [started(dashboard, "nap") for _ in range(3)]
    other = started(dashboard, "other")
    # From the runs page, filtered: its "Cancel matching…" carries the filter.
    browser.get(f"{dashboard.url}/ui/runs?workflow=nap")
    browser.find_element(By.PARTIAL_LINK_TEXT, "Cancel matching").click()
    assert "/ui/runs/bulk?" in browser.current_url and "workflow=nap" in browser.current_url
    count = browser.find_element(By.CSS_SELECTOR, "[data-bulk-count]")
    assert count.get_attribute("data-bulk-count") == "3"
    assert "3 runs will be cancelled" in count.text
    words = browser.find_element(By.CSS_SELECTOR, "[data-filter-words]").text
    assert "workflow = nap" in words and "created before" in words
    assert "pending, running" in words or "paused, pending, running" in words
    assert browser.find_element(By.ID, "bulk-confirm").text == "Cancel 3 runs"

    late = started(dashboard, "nap")  # after the confirmation was shown
    confirm(browser)
    result = browser.find_element(By.CSS_SELECTOR, "[data-bulk-changed]")
    assert result.get_attribute("data-bulk-changed") == "3"
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-bulk-differs]")
    for run_id in naps:
        assert dashboard.run(run_id)["status"] == "cancelled"
    assert dashboard.run(late)["status"] == "running", "a run started after the confirmation was swept in"
    assert dashboard.run(other)["status"] == "running", "a run of another workflow was cancelled"
    for run_id in (late, other):
        dashboard.api("POST", f"/runs/{run_id}/cancel")


def test_a_count_that_changed_since_the_confirmation_is_said(browser: Any, dashboard: Dashboard) -> None:
    dashboard.push(NAP)
    naps = [started(dashboard, "nap") for _ in range(2)]
    browser.get(f"{dashboard.url}/ui/runs/bulk?action=cancel&workflow=nap&status=running")
    assert browser.find_element(By.CSS_SELECTOR, "[data-bulk-count]").get_attribute("data-bulk-count") == "2"
    assert "status = running" in browser.find_element(By.CSS_SELECTOR, "[data-filter-words]").text
    assert dashboard.api("POST", f"/runs/{naps[0]}/cancel").status_code == 202  # finished meanwhile
    confirm(browser)
    assert (
        browser.find_element(By.CSS_SELECTOR, "[data-bulk-changed]").get_attribute("data-bulk-changed") == "1"
    )
    differs = browser.find_element(By.CSS_SELECTOR, "[data-bulk-differs]").text
    assert "You confirmed 2 runs; 1 still matched" in differs
    assert dashboard.run(naps[1])["status"] == "cancelled"


def test_bulk_retry_retries_the_failed_runs(browser: Any, dashboard: Dashboard) -> None:
    dashboard.push(FAILS)
    failed = [dashboard.start("fails") for _ in range(2)]
    ended = {run_id: dashboard.wait_status(run_id, "failed")["finished_at"] for run_id in failed}
    browser.get(f"{dashboard.url}/ui/runs/bulk?action=retry&workflow=fails")
    assert browser.find_element(By.CSS_SELECTOR, "[data-bulk-count]").get_attribute("data-bulk-count") == "2"
    words = browser.find_element(By.CSS_SELECTOR, "[data-filter-words]").text
    assert "in a status retry applies to (failed)" in words
    confirm(browser)
    assert (
        browser.find_element(By.CSS_SELECTOR, "[data-bulk-changed]").get_attribute("data-bulk-changed") == "2"
    )
    # Each ran again, and failed again: a later end.
    for run_id in failed:

        def failed_again(run_id: str = run_id) -> bool:
            run = dashboard.run(run_id)
            return run["status"] == "failed" and moment(run["finished_at"]) > moment(ended[run_id])

        wait_until(failed_again, what="the retried run to fail again")


def test_nothing_to_do_and_a_bad_action_are_said(browser: Any, dashboard: Dashboard) -> None:
    browser.get(f"{dashboard.url}/ui/runs/bulk?action=cancel&workflow=nothing-here")
    assert "No run matches" in browser.find_element(By.CSS_SELECTOR, "[data-bulk-count]").text
    assert browser.find_element(By.ID, "bulk-confirm").get_attribute("disabled") == "true"
    browser.get(f"{dashboard.url}/ui/runs/bulk?action=explode")
    assert "'explode' is not a bulk action" in browser.find_element(By.ID, "action-error").text
