"""The step page's actions in a real browser: Cancel stops a running step (or one item) and
the run goes on; Retry runs a failed step and what depends on it again. Each button shows
only where the engine accepts it, and posts with the page's CSRF token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support.expected_conditions import alert_is_present
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import Dashboard
from tests.browser.test_run_page import leave, mark_page, same_page, step_status, text_of
from tests.support.waiting import wait_until


def flow(flag: Path) -> str:
    """`nap` sleeps a minute; `check` fails until ``flag`` exists; `after` needs `check`."""
    return f"""
name: operated
steps:
  - {{id: nap, action: sleep, with: {{duration: 60s}}}}
  - {{id: check, action: shell, with: {{command: 'test -e {flag}'}}}}
  - {{id: after, action: noop, needs: [check]}}
  - {{id: fan, for_each: [0, 1], action: wait, with: {{signal: "go-{{{{ item }}}}"}}}}
"""


def open_step(browser: Any, dashboard: Dashboard, run_id: str, step: str, query: str = "") -> None:
    browser.get(f"{dashboard.url}/ui/runs/{run_id}/steps/{step}{query}")
    wait_until(lambda: browser.find_elements(By.ID, "step-live"), what="the step page")
    mark_page(browser)


def buttons(browser: Any) -> set[str]:
    return {
        button.get_attribute("id")
        for button in browser.find_elements(By.CSS_SELECTOR, "[data-step-actions] button")
    }


def test_cancel_and_retry_from_the_step_page(browser: Any, dashboard: Dashboard, tmp_path: Path) -> None:
    flag = tmp_path / "fixed"
    dashboard.push(flow(flag))
    run_id = dashboard.start("operated")
    wait_until(lambda: step_status(dashboard, run_id, "nap") == "waiting", what="the sleep to start")
    wait_until(lambda: step_status(dashboard, run_id, "check") == "failed", what="check to fail")

    # A failed step in a run still going: Retry only (nothing left to cancel).
    open_step(browser, dashboard, run_id, "check")
    assert buttons(browser) == {"step-retry"}
    flag.touch()
    browser.find_element(By.ID, "step-retry").click()
    wait_until(lambda: "Retried" in text_of(browser, "#step-notice"), what="the retry's notice")
    wait_until(lambda: step_status(dashboard, run_id, "after") == "succeeded", what="after to run")
    wait_until(lambda: text_of(browser, "#step-live .status") == "succeeded", what="the page to follow")
    assert buttons(browser) == set(), "a succeeded step has no action"
    assert same_page(browser)

    # One item of a for_each: Cancel item, and the step goes on with the other.
    open_step(browser, dashboard, run_id, "fan", "?item=1")
    assert buttons(browser) == {"step-cancel"}
    assert browser.find_element(By.ID, "step-cancel").text == "Cancel item"
    browser.find_element(By.ID, "step-cancel").click()
    WebDriverWait(browser, 5).until(alert_is_present()).accept()
    wait_until(lambda: "Cancelled" in text_of(browser, "#step-notice"), what="the cancel's notice")
    items = next(s for s in dashboard.run(run_id)["steps"] if s["id"] == "fan")["items"]
    assert [item["status"] for item in items] == ["waiting", "cancelled"]

    # The sleeping step: Cancel step; the run then ends as its other steps say.
    open_step(browser, dashboard, run_id, "nap")
    assert buttons(browser) == {"step-cancel"}
    browser.find_element(By.ID, "step-cancel").click()
    WebDriverWait(browser, 5).until(alert_is_present()).accept()
    wait_until(lambda: step_status(dashboard, run_id, "nap") == "cancelled", what="nap cancelled")
    nap = next(s for s in dashboard.run(run_id)["steps"] if s["id"] == "nap")
    assert nap["error"] == "cancelled by an operator (dashboard)"
    wait_until(lambda: text_of(browser, "#step-live .status") == "cancelled", what="the page to show it")
    assert buttons(browser) == {"step-retry"}, "a cancelled step of a running run may run again"
    assert dashboard.api("POST", f"/runs/{run_id}/cancel").status_code == 202
    browser.refresh()
    wait_until(lambda: buttons(browser) == set(), what="no action on a cancelled run")
    leave(browser)


def test_a_refused_step_action_is_a_notice(browser: Any, dashboard: Dashboard, tmp_path: Path) -> None:
    dashboard.push(flow(tmp_path / "never"))
    run_id = dashboard.start("operated")
    wait_until(lambda: step_status(dashboard, run_id, "nap") == "waiting", what="the sleep to start")
    open_step(browser, dashboard, run_id, "nap")
    # Another operator cancels it meanwhile; this page's button is still there.
    assert dashboard.api("POST", f"/runs/{run_id}/steps/nap/cancel").status_code == 202
    browser.find_element(By.ID, "step-cancel").click()
    WebDriverWait(browser, 5).until(alert_is_present()).accept()
    wait_until(lambda: "Not possible now" in text_of(browser, "#step-notice"), what="the refusal")
    assert "already cancelled" in text_of(browser, "#step-notice")
    assert same_page(browser)
    assert dashboard.api("POST", f"/runs/{run_id}/cancel").status_code == 202
    leave(browser)
