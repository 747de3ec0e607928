"""The start-run form on a workflow's page, generated from its input schema: its fields and
defaults, the engine's errors shown next to the fields, a run started on success."""

from __future__ import annotations

import json
import re
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.browser.conftest import Dashboard
from tests.support.browser import click_and_load

FLOW = """
name: greet
inputs:
  type: object
  required: [who]
  properties:
    who: {type: string, title: Who, description: The one to greet}
    tone: {type: string, enum: [warm, formal], default: formal}
    times: {type: integer, minimum: 1, default: 2}
    loud: {type: boolean, default: true}
steps:
  - id: say
    action: shell
    with: {command: [echo, "{{ inputs.who }}"]}
"""

NO_SCHEMA = """
name: free
steps:
  - id: noop
    action: noop
"""


def field(browser: Any, name: str) -> Any:
    return browser.find_element(By.CSS_SELECTOR, f'[name="input.{name}"]')


def error_of(browser: Any, name: str) -> str:
    """The error shown inside the field's own block, next to it."""
    block = browser.find_element(By.CSS_SELECTOR, f'.field[data-field="{name}"]')
    errors = block.find_elements(By.CSS_SELECTOR, ".field-error")
    return str(errors[0].text) if errors else ""


def submit(browser: Any, button: str = 'button[name="mode"][value="fields"]') -> None:
    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, button))


def leave(browser: Any) -> None:
    """Off the run's page, which refreshes itself: a refresh failing once the service has
    stopped would be a console error."""
    browser.get("about:blank")


def runs_of(dashboard: Dashboard, workflow: str) -> list[dict[str, Any]]:
    response = dashboard.api("GET", "/runs", params={"workflow": workflow})
    assert response.status_code == 200, response.text
    runs: list[dict[str, Any]] = response.json()["runs"]
    return runs


def test_the_fields_follow_the_schema_with_defaults_filled(browser: Any, dashboard: Dashboard) -> None:
    dashboard.push(FLOW)
    browser.get(dashboard.url + "/ui/workflows/greet")
    who = field(browser, "who")
    assert who.get_attribute("type") == "text" and who.get_attribute("value") == ""
    assert who.get_attribute("required") == "true"
    label = browser.find_element(By.CSS_SELECTOR, f'label[for="{who.get_attribute("id")}"]').text
    assert "Who" in label and "*" in label
    assert "The one to greet" in browser.find_element(By.CSS_SELECTOR, '.field[data-field="who"] .help').text
    tone = Select(field(browser, "tone"))
    assert [option.text for option in tone.options][-2:] == ["warm", "formal"]
    assert tone.first_selected_option.text == "formal"
    times = field(browser, "times")
    assert times.get_attribute("type") == "number" and times.get_attribute("value") == "2"
    assert times.get_attribute("min") == "1"
    loud = field(browser, "loud")
    assert loud.get_attribute("type") == "checkbox" and loud.is_selected()


def test_a_bad_input_is_shown_next_to_its_field_and_starts_nothing(
    browser: Any, dashboard: Dashboard
) -> None:
    dashboard.push(FLOW)
    browser.get(dashboard.url + "/ui/workflows/greet")
    Select(field(browser, "tone")).select_by_visible_text("warm")
    times = field(browser, "times")
    times.clear()
    times.send_keys("0")
    submit(browser)  # who is missing, times is below its minimum
    assert "required" in error_of(browser, "who")
    assert "minimum" in error_of(browser, "times")
    assert error_of(browser, "tone") == ""
    assert field(browser, "times").get_attribute("aria-invalid") == "true"
    # What was typed is kept.
    assert field(browser, "times").get_attribute("value") == "0"
    assert Select(field(browser, "tone")).first_selected_option.text == "warm"
    assert field(browser, "loud").is_selected()
    assert runs_of(dashboard, "greet") == []


def test_a_good_input_starts_the_run_and_shows_it(browser: Any, dashboard: Dashboard) -> None:
    dashboard.push(FLOW)
    browser.get(dashboard.url + "/ui/workflows/greet")
    field(browser, "who").send_keys("<b>ada</b>")
    times = field(browser, "times")
    times.clear()
    times.send_keys("3")
    field(browser, "loud").click()
    browser.find_element(By.ID, "idempotency-key").send_keys("once")
    submit(browser)
    found = re.search(r"/ui/runs/([0-9a-f-]{36})$", browser.current_url)
    assert found, browser.current_url
    leave(browser)
    run = dashboard.run(found.group(1))
    assert run["input"] == {"who": "<b>ada</b>", "tone": "formal", "times": 3, "loud": False}
    assert run["trigger"]["type"] == "api" and run["idempotency_key"] == "once"
    assert [r["id"] for r in runs_of(dashboard, "greet")] == [run["id"]]


def test_the_whole_input_as_json(browser: Any, dashboard: Dashboard) -> None:
    dashboard.push(FLOW)
    browser.get(dashboard.url + "/ui/workflows/greet")
    browser.find_element(By.CSS_SELECTOR, "details.raw-input summary").click()
    raw = browser.find_element(By.ID, "raw-input")
    assert json.loads(raw.get_attribute("value")) == {"tone": "formal", "times": 2, "loud": True}
    raw.clear()
    raw.send_keys('{"who": "bo", "times": "many"}')
    submit(browser, 'button[name="mode"][value="json"]')
    error = browser.find_element(By.ID, "start-error").text
    assert "$.times" in error and "not of type 'integer'" in error
    # The JSON mode stays open with the text as typed; no field is blamed.
    assert browser.find_element(By.ID, "raw-input").get_attribute("value") == '{"who": "bo", "times": "many"}'
    assert not browser.find_elements(By.CSS_SELECTOR, ".field .field-error")
    assert runs_of(dashboard, "greet") == []
    raw = browser.find_element(By.ID, "raw-input")
    raw.clear()
    raw.send_keys('{"who": "bo"}')
    submit(browser, 'button[name="mode"][value="json"]')
    assert re.search(r"/ui/runs/[0-9a-f-]{36}$", browser.current_url), browser.current_url
    leave(browser)
    [run] = runs_of(dashboard, "greet")
    assert run["input"] == {"who": "bo", "tone": "formal", "times": 2, "loud": True}


def test_without_a_schema_the_form_is_a_json_text_area(browser: Any, dashboard: Dashboard) -> None:
    dashboard.push(NO_SCHEMA)
    browser.get(dashboard.url + "/ui/workflows/free")
    assert not browser.find_elements(By.CSS_SELECTOR, ".start-form .field[data-field]")
    raw = browser.find_element(By.ID, "raw-input")
    raw.clear()
    raw.send_keys("[1, 2]")
    submit(browser, 'button[name="mode"][value="json"]')
    # The API's own check of a run request: the input must be an object.
    assert "[1, 2] is not of type 'object'" in browser.find_element(By.ID, "start-error").text
    raw = browser.find_element(By.ID, "raw-input")
    raw.clear()
    raw.send_keys('{"any": ["thing"]}')
    submit(browser, 'button[name="mode"][value="json"]')
    leave(browser)
    [run] = runs_of(dashboard, "free")
    assert run["input"] == {"any": ["thing"]}
    dashboard.wait_status(run["id"], "succeeded")
