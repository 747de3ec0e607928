"""The run page in a real browser: its graph follows a run live, its actions act, its signal
form names what is wrong, and a step's log follows the step while it runs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.expected_conditions import alert_is_present
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import TOKEN, Dashboard
from tests.support import databases
from tests.support.browser import console_errors
from tests.support.process import CLI, Server
from tests.support.waiting import wait_until

WAITS = """
name: waits
steps:
  - id: a
    action: shell
    with: {command: echo a}
  - id: b
    action: wait
    needs: [a]
    with: {signal: go}
  - id: c
    action: noop
    needs: [b]
    with: {output: "{{ steps.b.output }}"}
outputs:
  got: "{{ steps.c.output }}"
"""

SLOW = """
name: slow
steps:
  - id: nap
    action: sleep
    with: {duration: 60s}
"""


def node_class(browser: Any, step: str) -> str:
    nodes = browser.find_elements(By.CSS_SELECTOR, f'figure[data-graph] g.node[data-step="{step}"]')
    return str(nodes[0].get_attribute("class")) if nodes else ""


def step_status(dashboard: Dashboard, run_id: str, step: str) -> str:
    return str(next(s["status"] for s in dashboard.run(run_id)["steps"] if s["id"] == step))


def text_of(browser: Any, selector: str) -> str:
    """The element's text now; empty while htmx swaps it (found, then replaced before read)."""
    try:
        return str(browser.find_element(By.CSS_SELECTOR, selector).text)
    except StaleElementReferenceException:
        return ""


def mark_page(browser: Any) -> None:
    """A marker that a reload would lose: the test's proof that the page changed in place."""
    browser.execute_script("window.__samePage = true")


def same_page(browser: Any) -> bool:
    return browser.execute_script("return window.__samePage === true") is True


def leave(browser: Any) -> None:
    """Off a page that still polls, before the service stops (a poll it refused would be an
    error in the console). Its cookies go first: the next test's browser is cleared of the
    cookies of the page it is on, and about:blank has none."""
    browser.delete_all_cookies()
    browser.get("about:blank")


def open_run(browser: Any, dashboard: Dashboard, run_id: str) -> None:
    browser.get(f"{dashboard.url}/ui/runs/{run_id}")
    wait_until(
        lambda: browser.find_elements(By.CSS_SELECTOR, "figure[data-graph] svg"), what="the graph drawn"
    )
    mark_page(browser)


def test_the_graph_follows_the_run_live(browser: Any, dashboard: Dashboard) -> None:
    dashboard.push(WAITS)
    run_id = dashboard.start("waits")
    wait_until(lambda: step_status(dashboard, run_id, "b") == "waiting", what="b waiting")
    open_run(browser, dashboard, run_id)
    assert "s-succeeded" in node_class(browser, "a")
    assert "s-waiting" in node_class(browser, "b")
    assert "s-pending" in node_class(browser, "c")
    # The node links to its step.
    link = browser.find_element(By.CSS_SELECTOR, 'g.node[data-step="b"] a')
    assert link.get_dom_attribute("href").endswith(f"/ui/runs/{run_id}/steps/b")
    # The timeline draws a bar for each started step, and b's as waiting.
    wait_until(
        lambda: browser.find_elements(By.CSS_SELECTOR, ".gantt .bar.o-waiting"), what="b's waiting bar"
    )

    response = dashboard.api("POST", f"/runs/{run_id}/signals/go", json={"payload": {"ok": True}})
    assert response.status_code == 202, response.text

    wait_until(lambda: "s-succeeded" in node_class(browser, "b"), timeout=15, what="b's node succeeded")
    wait_until(lambda: "s-succeeded" in node_class(browser, "c"), timeout=15, what="c's node succeeded")
    wait_until(
        lambda: text_of(browser, "[data-run-status] .status") == "succeeded",
        what="the run's status succeeded",
    )
    row = browser.find_element(By.CSS_SELECTOR, 'tr[data-step="b"] [data-col="status"]')
    assert row.text == "succeeded"
    assert same_page(browser), "the page was reloaded"
    # Final: the outputs are shown, and the page stops polling.
    final = "var e = document.getElementById('run-live'); return !!e && !e.hasAttribute('hx-get')"
    wait_until(lambda: browser.execute_script(final), what="the polling to stop")
    assert '"ok": true' in text_of(browser, "#run-live")
    assert browser.find_element(By.ID, "action-cancel").get_attribute("disabled") == "true"


def test_cancel_from_the_page_stops_the_run(browser: Any, dashboard: Dashboard) -> None:
    dashboard.push(SLOW)
    run_id = dashboard.start("slow")
    wait_until(lambda: step_status(dashboard, run_id, "nap") == "waiting", what="the sleep to start")
    open_run(browser, dashboard, run_id)
    assert browser.find_element(By.ID, "action-resume").get_attribute("disabled") == "true"
    browser.find_element(By.ID, "action-cancel").click()
    WebDriverWait(browser, 5).until(alert_is_present()).accept()
    dashboard.wait_status(run_id, "cancelled", timeout=15)
    wait_until(
        lambda: "cancelled" in text_of(browser, "#run-notice"),
        what="the notice that the run is cancelled",
    )
    wait_until(lambda: "s-cancelled" in node_class(browser, "nap"), what="the node cancelled")
    assert browser.find_element(By.ID, "action-cancel").get_attribute("disabled") == "true"
    assert browser.find_element(By.ID, "action-retry").get_attribute("disabled") == "true"
    assert same_page(browser)


def test_an_action_the_run_refuses_is_a_notice_not_an_error_page(browser: Any, dashboard: Dashboard) -> None:
    dashboard.push(SLOW)
    run_id = dashboard.start("slow")
    wait_until(lambda: step_status(dashboard, run_id, "nap") == "waiting", what="the sleep to start")
    open_run(browser, dashboard, run_id)
    # Another operator pauses it meanwhile; this page's Pause button is still enabled.
    assert dashboard.api("POST", f"/runs/{run_id}/pause").status_code == 202
    browser.execute_script("document.getElementById('action-pause').disabled = false")
    browser.find_element(By.ID, "action-pause").click()
    wait_until(
        lambda: "Not possible now" in text_of(browser, "#run-notice"),
        what="the refusal as a notice",
    )
    assert "paused" in browser.find_element(By.ID, "run-notice").text
    assert same_page(browser)
    browser.find_element(By.ID, "action-resume").click()
    wait_until(lambda: dashboard.run(run_id)["status"] == "running", what="the run resumed")
    leave(browser)


def test_the_signal_form_names_bad_json_and_sends_a_good_one(browser: Any, dashboard: Dashboard) -> None:
    dashboard.push(WAITS)
    run_id = dashboard.start("waits")
    wait_until(lambda: step_status(dashboard, run_id, "b") == "waiting", what="b waiting")
    open_run(browser, dashboard, run_id)
    name = browser.find_element(By.ID, "signal-name")
    name.send_keys("go")
    browser.find_element(By.ID, "signal-payload").send_keys('{"ok": tru')
    browser.find_element(By.CSS_SELECTOR, '#run-signal button[type="submit"]').click()
    error = wait_until(lambda: browser.find_elements(By.ID, "payload-error"), what="the payload's error")[0]
    assert "not valid JSON" in error.text
    assert browser.find_element(By.ID, "signal-payload").get_attribute("aria-invalid") == "true"
    # What was typed stays, to be corrected; nothing was sent.
    assert browser.find_element(By.ID, "signal-payload").get_attribute("value") == '{"ok": tru'
    assert step_status(dashboard, run_id, "b") == "waiting"

    payload = browser.find_element(By.ID, "signal-payload")
    payload.clear()
    payload.send_keys('{"ok": true, "n": 2}')
    browser.find_element(By.CSS_SELECTOR, '#run-signal button[type="submit"]').click()
    wait_until(lambda: "a waiting step took it" in text_of(browser, "#run-signal"), what="sent")
    run = dashboard.wait_status(run_id, "succeeded", timeout=15)
    assert run["outputs"] == {"got": {"ok": True, "n": 2}}
    wait_until(lambda: "s-succeeded" in node_class(browser, "b"), what="b's node succeeded")
    assert same_page(browser)


def test_an_empty_signal_name_is_named(browser: Any, dashboard: Dashboard) -> None:
    dashboard.push(WAITS)
    run_id = dashboard.start("waits")
    wait_until(lambda: step_status(dashboard, run_id, "b") == "waiting", what="b waiting")
    open_run(browser, dashboard, run_id)
    browser.find_element(By.ID, "signal-payload").send_keys("{}")
    browser.find_element(By.CSS_SELECTOR, '#run-signal button[type="submit"]').click()
    error = wait_until(lambda: browser.find_elements(By.ID, "name-error"), what="the name's error")[0]
    assert "Name the signal" in error.text
    assert step_status(dashboard, run_id, "b") == "waiting"
    leave(browser)


def test_a_steps_log_follows_it_live(browser: Any, dashboard: Dashboard, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    dashboard.push(
        f"""
name: talks
steps:
  - id: talk
    action: shell
    with:
      command: "echo first line; echo to stderr >&2; while [ ! -e {gate} ]; do sleep 0.05; done; echo second line"
"""
    )
    run_id = dashboard.start("talks")
    wait_until(lambda: step_status(dashboard, run_id, "talk") == "running", what="the step running")
    browser.get(f"{dashboard.url}/ui/runs/{run_id}/steps/talk")
    mark_page(browser)
    log = browser.find_element(By.CSS_SELECTOR, "pre[data-log]")
    wait_until(lambda: "first line" in log.text, what="the first line")
    assert "second line" not in log.text
    stderr = wait_until(
        lambda: browser.find_elements(By.CSS_SELECTOR, "pre[data-log] .stderr"), what="stderr"
    )
    assert stderr[0].text == "to stderr"
    gate.touch()
    wait_until(lambda: "second line" in log.text, timeout=15, what="the second line, live")
    assert log.text.count("first line") == 1, "a line shown twice"
    wait_until(
        lambda: "ended (succeeded)" in browser.find_element(By.CSS_SELECTOR, "[data-log-state]").text,
        what="the end of the stream",
    )
    assert same_page(browser)
    # A finished step shows its stored lines without following.
    browser.get(f"{dashboard.url}/ui/runs/{run_id}/steps/talk")
    log = browser.find_element(By.CSS_SELECTOR, "pre[data-log]")
    assert log.get_attribute("data-follow") is None
    assert [line for line in log.text.splitlines() if line] == ["first line", "to stderr", "second line"]


def test_a_for_each_steps_items_are_paged(browser: Any, dashboard: Dashboard) -> None:
    dashboard.push(
        """
name: many
steps:
  - id: each
    action: noop
    for_each: "{{ range(230) }}"
    with: {output: "{{ item }}"}
"""
    )
    run_id = dashboard.start("many")
    dashboard.wait_status(run_id, "succeeded", timeout=30)
    browser.get(f"{dashboard.url}/ui/runs/{run_id}")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "figure[data-graph] svg"), what="the graph")
    count = browser.find_element(By.CSS_SELECTOR, 'g.node[data-step="each"] text.count').text
    assert count == "230/230"
    assert "230 succeeded of 230" in browser.find_element(By.CSS_SELECTOR, 'tr[data-step="each"]').text
    browser.get(f"{dashboard.url}/ui/runs/{run_id}/steps/each")
    assert len(browser.find_elements(By.CSS_SELECTOR, "tr[data-item]")) == 100
    browser.find_element(By.CSS_SELECTOR, 'a[rel="next"]').click()
    browser.find_element(By.CSS_SELECTOR, 'a[rel="next"]').click()
    items = browser.find_elements(By.CSS_SELECTOR, "tr[data-item]")
    assert [row.get_attribute("data-item") for row in items] == [str(n) for n in range(200, 230)]
    items[0].find_element(By.TAG_NAME, "a").click()
    assert "item 200" in browser.find_element(By.TAG_NAME, "h1").text
    assert json.loads(browser.find_element(By.CSS_SELECTOR, "#step-live pre.json").text) == 200


def test_parent_and_child_runs_link_both_ways(browser: Any, dashboard: Dashboard) -> None:
    dashboard.push("name: kid\nsteps:\n  - id: k\n    action: noop\n")
    dashboard.push("name: parent\nsteps:\n  - id: call\n    action: workflow\n    with: {name: kid}\n")
    run_id = dashboard.start("parent")
    dashboard.wait_status(run_id, "succeeded", timeout=30)
    browser.get(f"{dashboard.url}/ui/runs/{run_id}")
    child = browser.find_element(By.CSS_SELECTOR, ".children li a.mono")
    assert "from step call" in browser.find_element(By.CSS_SELECTOR, ".children li").text
    child.click()
    assert "kid" in browser.find_element(By.TAG_NAME, "h1").text
    parent = browser.find_element(By.CSS_SELECTOR, ".lineage a.mono")
    assert parent.get_attribute("title") == run_id


def test_behind_a_login_the_page_follows_logs_and_acts(
    browser: Any, secured_dashboard: Dashboard, tmp_path: Path
) -> None:
    dashboard = secured_dashboard
    gate = tmp_path / "gate"
    dashboard.push(
        f"""
name: guarded
steps:
  - id: talk
    action: shell
    with: {{command: "echo hello; while [ ! -e {gate} ]; do sleep 0.05; done; echo later"}}
  - id: hold
    action: wait
    needs: [talk]
    with: {{signal: go}}
"""
    )
    run_id = dashboard.start("guarded")
    wait_until(lambda: step_status(dashboard, run_id, "talk") == "running", what="the step running")
    # Signed out for sure: a session of an earlier test (same host, same token) would do here.
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    browser.get(f"{dashboard.url}/ui/runs/{run_id}/steps/talk")
    assert "/ui/login" in browser.current_url
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.CSS_SELECTOR, ".login button[type=submit]").click()
    log = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "pre[data-log]"), what="the step page")[0]
    wait_until(lambda: "hello" in log.text, what="the first line")
    gate.touch()
    wait_until(lambda: "later" in log.text, timeout=15, what="the second line over the event stream")
    open_run(browser, dashboard, run_id)
    wait_until(lambda: "s-waiting" in node_class(browser, "hold"), what="hold waiting")
    browser.find_element(By.ID, "action-cancel").click()
    WebDriverWait(browser, 5).until(alert_is_present()).accept()
    dashboard.wait_status(run_id, "cancelled", timeout=15)


def test_a_step_page_stops_following_a_run_that_is_gone(
    browser: Any, dashboard: Dashboard, sqlite_template: Path, tmp_path: Path
) -> None:
    """The service comes back on another database, where the run is not: the log's stream
    gives up with a note instead of reconnecting for ever, and the polled part says so and
    stops polling (htmx's 286) instead of asking every second."""
    dashboard.push(
        """
name: quiet
steps:
  - id: talk
    action: shell
    with: {command: "echo hello; sleep 60"}
"""
    )
    run_id = dashboard.start("quiet")
    wait_until(lambda: step_status(dashboard, run_id, "talk") == "running", what="the step running")
    browser.get(f"{dashboard.url}/ui/runs/{run_id}/steps/talk")
    mark_page(browser)
    log = browser.find_element(By.CSS_SELECTOR, "pre[data-log]")
    wait_until(lambda: "hello" in log.text, what="the first line")
    port = dashboard.server.port
    dashboard.server.stop()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    empty = databases.sqlite_copy(sqlite_template, elsewhere / "executor.db")
    other = Server(CLI, elsewhere, args=["--database", empty, "--port", str(port)]).start()
    try:
        other.wait_running()
        assert other.port == port
        state = wait_until(
            lambda: "no longer exists" in text_of(browser, "[data-log-state]"),
            timeout=30,
            what="the log to give up",
        )
        assert state
        assert browser.find_element(By.CSS_SELECTOR, "pre[data-log]").get_attribute("data-follow") is None
        gone = wait_until(
            lambda: browser.find_elements(By.CSS_SELECTOR, "#step-live[data-live-gone]"), what="the note"
        )[0]
        assert "No longer updated" in gone.text and gone.get_attribute("hx-get") is None
        assert same_page(browser)
        # While the service was away the page's requests failed, and htmx says so when a poll
        # came then: those errors only (the fixture would take htmx's for a script's).
        unexpected = [
            line
            for line in console_errors(browser)
            if "Failed to load resource" not in line
            and not re.search(r'htmx\.min\.js\S* [0-9:]+ "htmx:(sendError|afterRequest)', line)
        ]
        assert not unexpected, unexpected
    finally:
        browser.get("about:blank")
        other.stop()
