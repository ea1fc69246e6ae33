"""Job states and queue names: the vocabulary shared by API, broker and workers."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """Where a job is in its life. The moves allowed between these are the table in
    `imgflow.lifecycle`: mostly forward, but a job goes back to QUEUED when a worker
    releases it (transient trouble, shutdown) or housekeeping reclaims it from a dead
    worker, a new claim may take over a PROCESSING job whose lease ran out, and
    `retryJob` moves a FAILED job to QUEUED. SUCCEEDED and CANCELLED are final."""

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
