"""The fault suite's summary: each fault test's line goes into its report (see
tests/conftest.py), so it is printed at the end of the run even from a test process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import SUMMARY
from tests.faults.load import SUMMARIES


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    while SUMMARIES:
        report.user_properties.append((SUMMARY, SUMMARIES.pop(0)))
