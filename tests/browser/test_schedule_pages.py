"""The schedules page: a schedule's state and ticks, pause and resume, trigger now, and a
backfill whose dry run starts nothing and whose confirmation starts the ticks."""

from __future__ import annotations

import re
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.browser.conftest import Dashboard
from tests.support.browser import click_and_load
from tests.support.waiting import wait_until

# Once a year: no tick fires while a test runs (backfills name past years).
FLOW = """
name: report
inputs:
  type: object
  properties:
    env: {type: string}
schedules:
  - id: yearly
    cron: "0 0 1 1 *"
    input: {env: prod}
steps:
  - id: write
    action: shell
    with: {command: [echo, "{{ inputs.env }}"]}
"""
UNSCHEDULED = FLOW.split("schedules:")[0] + "steps:" + FLOW.split("steps:")[1]
CARD = 'article[data-schedule="report/yearly"]'


def click_and_wait(browser: Any, selector: str) -> None:
    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, selector))


def schedule(dashboard: Dashboard) -> dict[str, Any]:
    response = dashboard.api("GET", "/schedules/report/yearly")
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def runs(dashboard: Dashboard, trigger: str) -> list[dict[str, Any]]:
    response = dashboard.api("GET", "/runs", params={"workflow": "report", "trigger": trigger})
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["runs"]
    return found


def test_the_page_shows_the_schedule_and_pauses_and_resumes_it(browser: Any, dashboard: Dashboard) -> None:
    dashboard.push(FLOW)
    browser.get(dashboard.url + "/ui/schedules")
    card = browser.find_element(By.CSS_SELECTOR, CARD)
    assert "0 0 1 1 * in UTC" in card.text
    ticks = card.find_elements(By.CSS_SELECTOR, "ol.ticks time")
    assert len(ticks) == 5
    assert ticks[0].get_attribute("datetime") == schedule(dashboard)["next_ticks"][0]
    assert "0 fired · 0 missed · 0 skipped" in card.text
    click_and_wait(browser, CARD + ' [data-action="pause"]')
    assert schedule(dashboard)["paused"] is True
    assert browser.find_element(By.ID, "notice").text == "Paused report/yearly."
    card = browser.find_element(By.CSS_SELECTOR, CARD)
    assert card.find_element(By.CSS_SELECTOR, ".state").get_attribute("data-state") == "paused"
    click_and_wait(browser, CARD + ' [data-action="resume"]')
    assert schedule(dashboard)["paused"] is False
    assert browser.find_element(By.ID, "notice").text == "Resumed report/yearly."
    assert browser.find_element(By.CSS_SELECTOR, CARD + ' [data-action="pause"]')
    # A version without the schedule: pausing it from the page now shown is an error on the page.
    dashboard.push(UNSCHEDULED)
    click_and_wait(browser, CARD + ' [data-action="pause"]')
    assert "no schedule 'yearly' of workflow 'report'" in browser.find_element(By.ID, "error").text
    assert not browser.find_elements(By.CSS_SELECTOR, CARD)


def test_trigger_now_starts_a_run_and_shows_it(browser: Any, dashboard: Dashboard) -> None:
    dashboard.push(FLOW)
    browser.get(dashboard.url + "/ui/schedules?workflow=report")
    click_and_wait(browser, CARD + ' [data-action="trigger"]')
    found = re.search(r"/ui/runs/([0-9a-f-]{36})$", browser.current_url)
    assert found, browser.current_url
    run = dashboard.wait_status(found.group(1), "succeeded")
    assert run["trigger"]["type"] == "schedule" and run["trigger"]["schedule"] == "yearly"
    assert run["input"] == {"env": "prod"}
    # The schedule's card lists it among its recent runs.
    browser.get(dashboard.url + "/ui/schedules?workflow=report")
    assert browser.find_element(By.CSS_SELECTOR, f'{CARD} ul.recent li[data-run="{run["id"]}"]')


def test_a_backfill_is_a_dry_run_first_then_starts_the_ticks(browser: Any, dashboard: Dashboard) -> None:
    dashboard.push(FLOW)
    browser.get(dashboard.url + "/ui/schedules")
    click_and_wait(browser, CARD + ' [data-action="backfill"]')
    assert browser.current_url.endswith("/ui/schedules/report/yearly/backfill")
    # datetime-local takes typing in the browser's locale; its value is what a form sends.
    for name, value in (("from", "2019-12-31T12:00"), ("to", "2022-06-01T00:00")):
        browser.execute_script("arguments[0].value = arguments[1]", browser.find_element(By.ID, name), value)
    Select(browser.find_element(By.ID, "overlap")).select_by_value("allow_all")
    click_and_wait(browser, "#dry-run")
    listed = [
        e.get_attribute("datetime") for e in browser.find_elements(By.CSS_SELECTOR, ".dry-run-ticks time")
    ]
    assert listed == ["2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z", "2022-01-01T00:00:00Z"]
    assert "3 ticks would run" in browser.find_element(By.ID, "ticks-heading").text
    assert runs(dashboard, "backfill") == []
    click_and_wait(browser, "#confirm")
    assert "3 run(s) started" in browser.find_element(By.ID, "result").text
    wait_until(lambda: len(runs(dashboard, "backfill")) == 3, what="3 backfilled runs")
    assert sorted(run["trigger"]["tick"] for run in runs(dashboard, "backfill")) == [
        "2020-01-01T00:00:00Z",
        "2021-01-01T00:00:00Z",
        "2022-01-01T00:00:00Z",
    ]
    assert runs(dashboard, "schedule") == []


def test_a_bad_range_is_named_and_starts_nothing(browser: Any, dashboard: Dashboard) -> None:
    dashboard.push(FLOW)
    browser.get(dashboard.url + "/ui/schedules/report/yearly/backfill")
    for name, value in (("from", "2022-01-01T00:00"), ("to", "2020-01-01T00:00")):
        browser.execute_script("arguments[0].value = arguments[1]", browser.find_element(By.ID, name), value)
    click_and_wait(browser, "#dry-run")
    assert "is before from" in browser.find_element(By.ID, "to-error").text
    assert browser.find_element(By.ID, "to").get_attribute("aria-invalid") == "true"
    assert not browser.find_elements(By.ID, "confirm")
    for name in ("from", "to"):
        browser.execute_script("arguments[0].value = ''", browser.find_element(By.ID, name))
    click_and_wait(browser, "#dry-run")
    assert "is required" in browser.find_element(By.ID, "from-error").text
    browser.get(dashboard.url + "/ui/schedules/report/never/backfill")
    assert "no schedule 'never'" in browser.find_element(By.CSS_SELECTOR, ".error-message").text
    assert runs(dashboard, "backfill") == []
