"""The `browser` fixture: a fresh headless Chromium per test (see tests/browser/chromium.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.chromium import Browser, chromium


@pytest.fixture
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    with chromium(tmp_path_factory.mktemp("chromium") / "chromedriver.log") as opened:
        yield opened
