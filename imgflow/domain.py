"""Job states and queue names: the vocabulary shared by API, broker and workers."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class JobStatus(StrEnum):
    """Where a job is in its life. The moves allowed between these are the table in
    `imgflow.jobs.lifecycle`: mostly forward, but a job goes back to QUEUED when a worker
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


class WebhookEvent(StrEnum):
    """What a webhook endpoint can be told: one of a job's endings."""

    JOB_SUCCEEDED = "JOB_SUCCEEDED"
    """The job's result is stored."""
    JOB_FAILED = "JOB_FAILED"
    """The job ended with an error code."""
    JOB_CANCELLED = "JOB_CANCELLED"
    """The job was cancelled before a worker took it."""

    @classmethod
    def for_status(cls, status: JobStatus) -> WebhookEvent | None:
        return _EVENT_OF_STATUS.get(status)

    @property
    def type_name(self) -> str:
        """The payload's `type`, in the dotted form Standard Webhooks suggests."""
        return self.value.lower().replace("_", ".", 1)


_EVENT_OF_STATUS = {
    JobStatus.SUCCEEDED: WebhookEvent.JOB_SUCCEEDED,
    JobStatus.FAILED: WebhookEvent.JOB_FAILED,
    JobStatus.CANCELLED: WebhookEvent.JOB_CANCELLED,
}


class QueueName(StrEnum):
    """One queue per kind of operation, each with its own worker concurrency."""

    ROTATE = "ROTATE"
    RESIZE = "RESIZE"
    FORCE_RESIZE = "FORCE_RESIZE"
    CONVERT = "CONVERT"


@dataclass(frozen=True)
class QueueStats:
    """One queue's figures: waiting and running now, finished over a window."""

    queue: QueueName
    queued: int
    processing: int
    succeeded: int
    failed: int
    throughput_per_minute: float
    latency_p50_seconds: float | None
    latency_p95_seconds: float | None


@dataclass(frozen=True)
class SystemStats:
    """Every queue's figures and the failures by code, over `window_minutes`."""

    window_minutes: int
    queues: list[QueueStats]
    failures_by_code: dict[str, int]
