"""What one job came to: its timings if it succeeded, a code and a reason if not."""

from __future__ import annotations

from dataclasses import dataclass


class JobFailure(Exception):
    """A job that did not succeed: a stable code (for grouping) and a reason."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass
class JobResult:
    queue: str
    ok: bool
    latency_s: float | None = None
    download_s: float | None = None
    code: str | None = None
    reason: str | None = None
