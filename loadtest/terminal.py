"""The terminal: the one place the load test writes, and its progress bar."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

from loadtest.results import JobResult


def output(text: str, *, stream: TextIO | None = None, end: str = "\n") -> None:
    """The one place this CLI writes to the terminal."""
    print(text, file=stream or sys.stdout, end=end, flush=True)


@dataclass
class Progress:
    """A `\\r` bar on a terminal; elsewhere (CI logs, pipes) a line every 10%."""

    total: int
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    done: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)

    def update(self, result: JobResult) -> None:
        self.done += 1
        self.failed += 0 if result.ok else 1
        if self.stream.isatty():
            output(f"\r{self.line()}", stream=self.stream, end="")
            if self.done == self.total:
                output("", stream=self.stream)
        elif self.done == self.total or self.done % math.ceil(self.total / 10) == 0:
            output(self.line(), stream=self.stream)

    def line(self) -> str:
        width = 30
        filled = width * self.done // max(1, self.total)
        bar = "#" * filled + "." * (width - filled)
        elapsed = time.monotonic() - self.started
        return (
            f"[{bar}] {self.done}/{self.total} failed {self.failed} "
            f"{elapsed:6.1f} s {self.done / max(elapsed, 1e-9):5.2f} jobs/s"
        )
