"""Signing in to a dashboard that requires an API token: the login gate, the session cookie
(and what it allows on the API), signing out, and the CSRF check on every change."""

from __future__ import annotations

from typing import Any

import httpx
from selenium.webdriver.common.by import By

from tests.browser.conftest import TOKEN, Dashboard
from tests.support.browser import click_and_load
from tests.support.waiting import wait_until

FLOW = """
name: hello
steps:
  - id: greet
    action: noop
"""


def sign_in(browser: Any, token: str) -> None:
    field = browser.find_element(By.ID, "token")
    field.send_keys(token)
    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, ".login button[type=submit]"))


def cookie(browser: Any, name: str) -> dict[str, Any]:
    found = [c for c in browser.get_cookies() if c["name"] == name]
    assert found, f"no {name} cookie"
    answer: dict[str, Any] = found[0]
    return answer


def test_sign_in_use_the_session_and_sign_out(browser: Any, secured_dashboard: Dashboard) -> None:
    dashboard = secured_dashboard
    dashboard.push(FLOW)
    browser.get(dashboard.url + "/ui")
    assert "/ui/login?next=" in browser.current_url
    sign_in(browser, "not-the-token")
    assert "/ui/login" in browser.current_url
    assert "not valid" in browser.find_element(By.ID, "token-error").text
    assert not [c for c in browser.get_cookies() if c["name"] == "executor_session"]
    sign_in(browser, TOKEN)
    wait_until(lambda: browser.current_url.endswith("/ui/runs"), what="the runs page")
    session = cookie(browser, "executor_session")
    assert session["httpOnly"] is True and session["sameSite"] == "Strict"
    csrf = cookie(browser, "executor_csrf")
    assert csrf["httpOnly"] is True and csrf["sameSite"] == "Strict"
    # The API reads with the session cookie (so pages can follow logs), but changes need the token.
    jar = {"executor_session": session["value"]}
    assert httpx.get(dashboard.url + "/workflows/hello", cookies=jar, timeout=10).status_code == 200
    assert httpx.get(dashboard.url + "/workflows/hello", timeout=10).status_code == 401
    refused = httpx.post(dashboard.url + "/runs", json={"workflow": "hello"}, cookies=jar, timeout=10)
    assert refused.status_code == 401
    # Signing out ends the session: a page sends to the login again.
    browser.get(dashboard.url + "/ui/workflows/hello")
    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "form.logout button"))
    assert "/ui/login" in browser.current_url
    browser.get(dashboard.url + "/ui/workflows/hello")
    assert "/ui/login?next=%2Fui%2Fworkflows%2Fhello" in browser.current_url


def test_a_change_without_the_csrf_token_is_refused(browser: Any, secured_dashboard: Dashboard) -> None:
    dashboard = secured_dashboard
    dashboard.push(FLOW)
    # Signed in on a page that does not poll: the test talks to the service with httpx.
    browser.get(dashboard.url + "/ui/login?next=/ui/workflows")
    sign_in(browser, TOKEN)
    jar = {c["name"]: c["value"] for c in browser.get_cookies()}
    start = dashboard.url + "/ui/workflows/hello/runs"
    form = {"version": "1", "mode": "json", "raw": "{}"}
    with httpx.Client(cookies=jar, timeout=10) as client:
        refused = client.post(start, data=form)
        assert refused.status_code == 403
        assert "expired or came from another site" in refused.text
        wrong = client.post(start, data={**form, "csrf": "not-" + jar["executor_csrf"]})
        assert wrong.status_code == 403
        assert dashboard.api("GET", "/runs").json()["runs"] == []
        accepted = client.post(start, data={**form, "csrf": jar["executor_csrf"]})
        assert accepted.status_code == 303, accepted.text
        run_id = accepted.headers["location"].rsplit("/", 1)[-1]
    assert [run["id"] for run in dashboard.api("GET", "/runs").json()["runs"]] == [run_id]
