"""GraphiQL at /graphql in a real headless Chromium, with no internet: it loads from the
API alone, runs a query with the Authorization header typed into its headers editor,
and follows a real job over a `jobUpdated` subscription to SUCCEEDED.

Once, on the embedded backends: the page is the same on every mix.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement

from tests.browser.chromium import Browser, off_machine
from tests.client import Client
from tests.conftest import Server
from tests.imaging import quadrants, to_bytes

pytestmark = pytest.mark.parametrize("backend", ["embedded"], indirect=True)

QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
RESPONSE = ".graphiql-response"
PARSED = (
    "const cm = arguments[0].CodeMirror; return cm.documentAST?.loc.source.body === cm.getValue()"
)


def open_graphiql(browser: Browser, server: Server) -> None:
    browser.driver.get(f"{server.base_url}/graphql")
    browser.wait_for(lambda d: d.find_elements(By.CSS_SELECTOR, QUERY_EDITOR))


def editor_text(browser: Browser, editor: WebElement) -> str:
    text: str = browser.driver.execute_script("return arguments[0].CodeMirror.getValue()", editor)
    return text


def type_into(browser: Browser, editor: WebElement, text: str) -> None:
    """Click into a CodeMirror editor, clear it and type, as a person would. (GraphiQL
    closes brackets and quotes itself, and steps over the ones typed after them.)"""
    editor.click()
    keys = ActionChains(browser.driver)
    keys.key_down(Keys.CONTROL).send_keys("a").key_up(Keys.CONTROL).send_keys(Keys.BACKSPACE)
    keys.send_keys(text).perform()
    assert editor_text(browser, editor) == text


def visible_headers_editor(browser: Browser) -> WebElement:
    tabs = browser.driver.find_elements(By.CSS_SELECTOR, ".graphiql-editor-tools button")
    next(tab for tab in tabs if tab.text == "Headers").click()
    editors = ".graphiql-editor-tool .graphiql-editor"
    return browser.wait_for(
        lambda d: next(
            (
                e.find_element(By.CSS_SELECTOR, ".CodeMirror")
                for e in d.find_elements(By.CSS_SELECTOR, editors)
                if e.is_displayed()
            ),
            None,
        )
    )


def run(browser: Browser, query: str) -> None:
    editor = browser.driver.find_element(By.CSS_SELECTOR, QUERY_EDITOR)
    type_into(browser, editor, query)
    # GraphiQL parses the editor a moment after each keystroke and picks HTTP or the
    # WebSocket from that parse: run only once it has seen the whole text, as a person
    # who has just typed it would.
    browser.wait_for(lambda d: d.execute_script(PARSED, editor), timeout=5)
    browser.driver.find_element(By.CSS_SELECTOR, ".graphiql-execute-button").click()


def response_shows(browser: Browser, *texts: str, timeout: float = 30) -> str:
    def shown(driver: Any) -> str | None:
        pane: str = driver.find_element(By.CSS_SELECTOR, RESPONSE).text
        return pane if all(text in pane for text in texts) else None

    return browser.wait_for(shown, timeout)


async def test_graphiql_offline_query_and_subscription(
    browser: Browser, server: Server, client: Client
) -> None:
    email = (await client.execute("{ me { email } }"))["me"]["email"]
    open_graphiql(browser, server)
    # It opens on imgflow's example: how to sign in and where the token goes.
    welcome = editor_text(browser, browser.driver.find_element(By.CSS_SELECTOR, QUERY_EDITOR))
    assert "mutation Register" in welcome
    assert '{"Authorization": "Bearer <the token>"}' in welcome

    headers = json.dumps({"Authorization": f"Bearer {client.token}"})
    type_into(browser, visible_headers_editor(browser), headers)
    run(browser, "query { me { email } }")
    response_shows(browser, email)

    job = await client.submit(to_bytes(quadrants(), "PNG"), [{"rotate": {"degrees": 90}}])
    run(browser, f'subscription {{ jobUpdated(id: "{job["id"]}") {{ id status }} }}')
    response_shows(browser, job["id"], "SUCCEEDED")

    sent = browser.websocket_frames("sent")
    assert sent[0]["type"] == "connection_init"
    assert sent[0]["payload"] == {"Authorization": f"Bearer {client.token}"}
    events = [
        frame["payload"]["data"]["jobUpdated"]
        for frame in browser.websocket_frames("received")
        if frame["type"] == "next"
    ]
    assert events, browser.websocket_frames("received")
    assert events[-1] == {"id": job["id"], "status": "SUCCEEDED"}

    urls = browser.requested_urls()
    assert any("/_graphiql/" in url for url in urls), urls  # the log did record the page
    assert any(url.startswith("ws://127.0.0.1:") for url in urls), urls
    assert off_machine(urls) == []
    assert browser.console_errors() == []
