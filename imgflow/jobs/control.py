"""The owner's levers on a job: cancel one that has not started, re-drive one that failed.

Both are one guarded transition, like every other state change, so they race safely
with workers, uploads and housekeeping: whichever UPDATE matches first wins, and the
loser sees the state the winner left.
"""

from __future__ import annotations

import logging

from imgflow.accounts import quotas
from imgflow.domain import JobStatus
from imgflow.errors import ErrorCode, ImgflowError
from imgflow.jobs import lifecycle, transitions
from imgflow.jobs import records as jobs
from imgflow.jobs.lifecycle import Event
from imgflow.models import Job
from imgflow.services import Services

log = logging.getLogger(__name__)
CANCELLABLE = lifecycle.sources(Event.CANCEL)


async def cancel(services: Services, owner_id: str, job_id: str) -> Job:
    """AWAITING_UPLOAD or QUEUED -> CANCELLED. Cancelling a CANCELLED job returns it,
    so a client may repeat the call; any other state is JOB_NOT_CANCELLABLE.

    A PROCESSING job is not interrupted: the worker holds pixels and a lease, and
    cutting it short would leave a half-written result for nothing. A message still
    queued for the job is harmless: a worker only claims QUEUED jobs."""
    job = await jobs.get_job(services, owner_id, job_id)
    cancelled = await transitions.cancel(services, job.id)
    if cancelled is not None:
        log.info("job cancelled", extra={"job_id": job.id})
        return cancelled
    current = await jobs.load(services, job.id) or job
    if current.status is JobStatus.CANCELLED:
        return current
    raise ImgflowError(
        ErrorCode.JOB_NOT_CANCELLABLE,
        f"the job is {current.status.value}; only a job {' or '.join(CANCELLABLE)} can be "
        "cancelled (a job a worker has started runs to its end)",
    )


async def retry(services: Services, owner_id: str, job_id: str) -> Job:
    """FAILED -> QUEUED with a clean slate (no error, no timestamps, attempts 0), then
    published. Only a job whose source passed the ingest checks: a direct upload
    refused or never received has nothing a worker could process."""
    job = await jobs.get_job(services, owner_id, job_id)
    if job.status is JobStatus.FAILED and job.source_format is not None:
        await quotas.check_active_jobs(services, owner_id)  # it would be active again
    queued = await transitions.retry(services, job.id)
    if queued is None:
        raise not_retryable(await jobs.load(services, job.id) or job)
    log.info("job queued again by its owner", extra={"job_id": job.id})
    await jobs.enqueue(services, queued)
    return queued


def not_retryable(job: Job) -> ImgflowError:
    if job.status is JobStatus.FAILED:
        reason = f"its file never passed the upload checks ({job.error_code}); upload again"
    else:
        reason = f"the job is {job.status.value}; only a FAILED job can be retried"
    return ImgflowError(ErrorCode.JOB_NOT_RETRYABLE, reason)
