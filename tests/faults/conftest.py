"""The fault suite's summary: one line per fault test at the end of the pytest output."""

from __future__ import annotations

from _pytest.terminal import TerminalReporter

from tests.faults.load import SUMMARIES


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    if SUMMARIES:
        terminalreporter.section("fault suite")
        for line in SUMMARIES:
            terminalreporter.write_line(line)
