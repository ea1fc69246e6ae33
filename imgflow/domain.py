"""Job states and queue names: the vocabulary shared by API, broker and workers."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """Where a job is in its life. Transitions only move forward."""

    AWAITING_UPLOAD = "AWAITING_UPLOAD"
    """Created for a direct upload; the source is not there yet."""
    QUEUED = "QUEUED"
    """Source stored and checked; waiting for a worker."""
    PROCESSING = "PROCESSING"
    """A worker holds it (under a lease)."""
    SUCCEEDED = "SUCCEEDED"
    """The result is stored."""
    FAILED = "FAILED"
    """Ended with an error code and message."""
    CANCELLED = "CANCELLED"
    """Cancelled before a worker took it."""

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


class QueueName(StrEnum):
    """One queue per kind of operation, each with its own worker concurrency."""

    ROTATE = "ROTATE"
    RESIZE = "RESIZE"
    FORCE_RESIZE = "FORCE_RESIZE"
    CONVERT = "CONVERT"
