"""Markup a run carries (in its input, outputs, logs, errors, signal payloads) is shown as
text on the run and step pages, in what the server renders and in what their scripts add
live, and never runs: no script executes, no element is made of it."""

from __future__ import annotations

import json
from typing import Any

from selenium.webdriver.common.by import By

from tests.browser.conftest import Dashboard
from tests.support.waiting import wait_until

SCRIPT = "<script>window.__pwned=1</script>"
IMAGE = '<img src=x onerror="window.__pwned=1">'
EVIL = SCRIPT + IMAGE

HOSTILE = """
name: hostile
steps:
  - id: say
    action: shell
    with:
      command: [sh, -c, 'printf "%s\\n" "$EVIL"; printf "%s\\n" "$EVIL" >&2']
      env: {EVIL: "{{ inputs.evil }}"}
  - id: gate
    action: wait
    needs: [say]
    with: {signal: go}
  - id: boom
    action: shell
    needs: [gate]
    when: "{{ inputs.fail }}"
    with:
      command: [sh, -c, 'printf "%s\\n" "$EVIL" >&2; exit 3']
      env: {EVIL: "{{ inputs.evil }}"}
outputs:
  said: "{{ steps.say.output.stdout }}"
  signalled: "{{ steps.gate.output }}"
"""


def assert_harmless(browser: Any) -> None:
    assert browser.execute_script("return window.__pwned") is None, "markup from a run executed"
    assert browser.find_elements(By.CSS_SELECTOR, 'img[src="x"]') == []
    assert browser.find_elements(By.CSS_SELECTOR, "main script:not([type='application/json'])") == []


def main_text(browser: Any) -> str:
    return str(browser.find_element(By.TAG_NAME, "main").text)


def step_status(dashboard: Dashboard, run_id: str, step: str) -> str:
    return str(next(s["status"] for s in dashboard.run(run_id)["steps"] if s["id"] == step))


def test_markup_from_a_run_is_text_everywhere(browser: Any, dashboard: Dashboard) -> None:
    dashboard.push(HOSTILE)
    run_id = dashboard.start("hostile", {"evil": EVIL, "fail": True})
    wait_until(lambda: step_status(dashboard, run_id, "gate") == "waiting", what="the gate waiting")
    browser.get(f"{dashboard.url}/ui/runs/{run_id}")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "figure[data-graph] svg"), what="the graph")
    shown_input = browser.find_element(By.CSS_SELECTOR, ".grid:not(.run-live) pre.json").text
    assert json.loads(shown_input) == {"evil": EVIL, "fail": True}

    # The signal travels through the page's form; its payload comes back as the gate's output.
    browser.find_element(By.ID, "signal-name").send_keys("go")
    browser.find_element(By.ID, "signal-payload").send_keys(json.dumps({"note": EVIL}))
    browser.find_element(By.CSS_SELECTOR, '#run-signal button[type="submit"]').click()
    dashboard.wait_status(run_id, "failed", timeout=20)
    # The failure arrives live: its error line goes in by script.
    wait_until(
        lambda: EVIL in browser.find_element(By.CSS_SELECTOR, 'tr[data-step="boom"] [data-col="error"]').text,
        timeout=15,
        what="boom's error in the steps table, live",
    )
    wait_until(lambda: EVIL in main_text(browser), what="the run's error shown")
    assert_harmless(browser)
    # Also as the server renders the finished run.
    browser.get(f"{dashboard.url}/ui/runs/{run_id}")
    assert EVIL in main_text(browser)
    error = browser.find_element(By.CSS_SELECTOR, "#run-live pre.error-text").text
    assert EVIL in error
    assert_harmless(browser)

    # The step pages: its log (stdout and stderr), its output, its error and attempts.
    browser.get(f"{dashboard.url}/ui/runs/{run_id}/steps/say")
    log = browser.find_element(By.CSS_SELECTOR, "pre[data-log]").text
    assert log.splitlines() == [EVIL, EVIL]
    assert (
        json.loads(browser.find_element(By.CSS_SELECTOR, "#step-live pre.json").text)["stdout"] == EVIL + "\n"
    )
    assert_harmless(browser)
    browser.get(f"{dashboard.url}/ui/runs/{run_id}/steps/boom")
    assert EVIL in browser.find_element(By.CSS_SELECTOR, "#step-live pre.error-text").text
    assert EVIL in browser.find_element(By.CSS_SELECTOR, "table.attempts").text
    assert_harmless(browser)
    browser.get(f"{dashboard.url}/ui/runs/{run_id}/steps/gate")
    assert json.loads(browser.find_element(By.CSS_SELECTOR, "#step-live pre.json").text) == {"note": EVIL}
    assert_harmless(browser)


def test_markup_in_outputs_and_a_followed_log_is_text(browser: Any, dashboard: Dashboard) -> None:
    dashboard.push(HOSTILE)
    run_id = dashboard.start("hostile", {"evil": EVIL, "fail": False})
    wait_until(lambda: step_status(dashboard, run_id, "gate") == "waiting", what="the gate waiting")
    # A step page whose log is followed over the event stream while the step has not ended.
    browser.get(f"{dashboard.url}/ui/runs/{run_id}/steps/gate")
    assert browser.find_element(By.CSS_SELECTOR, "pre[data-log]").get_attribute("data-follow")
    # A bad payload comes back in the form, as text, with its error.
    browser.get(f"{dashboard.url}/ui/runs/{run_id}")
    browser.find_element(By.ID, "signal-name").send_keys(EVIL)
    browser.find_element(By.ID, "signal-payload").send_keys(EVIL)
    browser.find_element(By.CSS_SELECTOR, '#run-signal button[type="submit"]').click()
    wait_until(lambda: browser.find_elements(By.ID, "payload-error"), what="the payload's error")
    assert browser.find_element(By.ID, "signal-payload").get_attribute("value") == EVIL
    assert browser.find_element(By.ID, "signal-name").get_attribute("value") == EVIL
    assert_harmless(browser)
    assert dashboard.api("POST", f"/runs/{run_id}/signals/go", json={"payload": EVIL}).status_code == 202
    run = dashboard.wait_status(run_id, "succeeded", timeout=20)
    assert run["outputs"] == {"said": EVIL + "\n", "signalled": EVIL}
    # Read in one script: htmx may swap the element between two WebDriver calls.
    final = "var e = document.getElementById('run-live'); return !!e && !e.hasAttribute('hx-get')"
    wait_until(lambda: browser.execute_script(final), what="the final state shown")
    outputs = browser.find_element(By.CSS_SELECTOR, "#run-live pre.json").text
    assert json.loads(outputs) == run["outputs"]
    assert_harmless(browser)
