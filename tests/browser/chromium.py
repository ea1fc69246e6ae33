"""Headless Chromium, driven by selenium through chromedriver: Debian's `chromium` and
`chromium-driver` packages, which scripts/test installs.

Both paths are handed to selenium, so Selenium Manager never runs and nothing tries to
download a browser or a driver. Chromium may resolve no host name but the loopback
address, so a page that reaches for the internet fails here as it would offline, and
the performance log records every request a page made, for the tests to check.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

CHROMIUM = Path(os.environ.get("IMGFLOW_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("IMGFLOW_TEST_CHROMEDRIVER", "/usr/bin/chromedriver"))
WINDOW = (1200, 800)
LOCAL_HOSTS = frozenset({"127.0.0.1"})
# Pages' own URLs that never touch a network.
OFFLINE_SCHEMES = frozenset({"data", "blob", "about", "chrome-error"})

FLAGS = (
    "--headless=new",
    "--no-sandbox",  # as root (CI, containers) Chromium will not start with its sandbox
    "--disable-gpu",
    "--disable-dev-shm-usage",  # a small /dev/shm crashes tabs
    # Chromium's own traffic (updates, sync, field trials) is not the page's.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Offline but for this machine: any other host name fails to resolve.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
)

T = TypeVar("T")


def require_chromium() -> None:
    """Skip without Chromium and its driver, or fail under CI=true: scripts/test installs
    them, so their absence there is a broken setup, not a reason to pass."""
    if CHROMIUM.is_file() and CHROMEDRIVER.is_file():
        return
    message = (
        f"Chromium or its driver is not installed ({CHROMIUM}, {CHROMEDRIVER}); scripts/test "
        "installs them (apt-get install chromium chromium-driver)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} [CI=true: a missing browser is a failure]")
    pytest.skip(message)


@dataclass
class Browser:
    driver: WebDriver
    _events: list[dict[str, Any]] = field(default_factory=list)

    def wait_for(
        self, condition: Callable[[WebDriver], T | None], timeout: float = 20, what: str = ""
    ) -> T:
        """Polls `condition` until it returns something truthy; fails after `timeout`,
        saying what the page logged (a blocked request shows up there)."""
        try:
            found = WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(condition)
        except TimeoutException:
            logged = self.console_errors()
            message = f"waited {timeout}s for {what or condition}; the page logged {logged}"
            raise AssertionError(message) from None
        return cast(T, found)  # `until` returns only a truthy answer

    def network_events(self) -> list[dict[str, Any]]:
        """Every Network.* event of the session so far (the log empties as it is read)."""
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"].startswith("Network."):
                self._events.append(message)
        return self._events

    def requested_urls(self) -> list[str]:
        """URLs of every request and WebSocket the pages opened."""
        urls = []
        for event in self.network_events():
            if event["method"] == "Network.requestWillBeSent":
                urls.append(event["params"]["request"]["url"])
            elif event["method"] == "Network.webSocketCreated":
                urls.append(event["params"]["url"])
        return urls

    def websocket_frames(self, direction: str) -> list[dict[str, Any]]:
        """graphql-transport-ws messages `sent` or `received` by the pages, in order."""
        method = {
            "sent": "Network.webSocketFrameSent",
            "received": "Network.webSocketFrameReceived",
        }
        return [
            json.loads(event["params"]["response"]["payloadData"])
            for event in self.network_events()
            if event["method"] == method[direction]
        ]

    def console_errors(self) -> list[str]:
        """Errors the pages logged (a CSP violation is one), since the last call."""
        return [
            entry["message"]
            for entry in self.driver.get_log("browser")
            if entry["level"] == "SEVERE"
        ]


def off_machine(urls: list[str]) -> list[str]:
    """The URLs that would leave this machine."""
    return [
        url
        for url in urls
        if urlsplit(url).scheme not in OFFLINE_SCHEMES and urlsplit(url).hostname not in LOCAL_HOSTS
    ]


def chromium_options() -> webdriver.ChromeOptions:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    return options


@contextmanager
def chromium(log_path: Path) -> Iterator[Browser]:
    """A fresh Chromium (new profile: no storage shared between tests)."""
    require_chromium()
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(log_path))
    driver = webdriver.Chrome(options=chromium_options(), service=service)
    # The window size includes what headless Chromium counts as its frame: fix the
    # viewport itself, so screenshots are exactly WINDOW.
    width, height = WINDOW
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(10)
    try:
        yield Browser(driver)
    finally:
        driver.quit()
