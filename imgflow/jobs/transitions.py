"""The named job transitions: the only code that changes a job's status.

Each is one UPDATE ... RETURNING guarded by its event's rows in `imgflow.jobs.lifecycle`
(None when the job was not in a status, or under a fence, the table allows), followed
by one event for subscribers; a job that ends is counted and announced here, once, in
whichever process ended it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col

from imgflow.backends.events import job_channel, user_channel
from imgflow.errors import ErrorCode, ImgflowError, is_transient
from imgflow.imaging.analysis import Analysis, analysis_to_json
from imgflow.imaging.info import ImageInfo
from imgflow.imaging.outputs import Output, main_output, outputs_to_json
from imgflow.jobs import lifecycle, webhook_outbox
from imgflow.jobs.lifecycle import Event, Fence
from imgflow.jobs.outputs import result_fields
from imgflow.models import Job, utcnow
from imgflow.services import Services

log = logging.getLogger(__name__)
ERROR_MESSAGE_MAX = 2000
"""The error_message column's width."""


async def _move(
    services: Services, event: Event, job_id: str, fence: Fence, **values: Any
) -> Job | None:
    """The one raw UPDATE: `values` and the event's target status, if the table allows."""
    status = lifecycle.target(event)
    values.update(status=status, updated_at=fence.now)
    if status.is_terminal:
        # The notification outbox: NULL means an announcement is owed (set once SNS took
        # it); with notifications off nothing is owed, so turning them on later does not
        # announce the history.
        values["notified_at"] = None if services.notifier.announces else fence.now
    guard = lifecycle.allowed(event, fence)
    statement = (
        update(Job)
        .where(col(Job.id) == job_id, guard)
        .values(**values)
        .returning(Job)
        # A fresh session holds no Job to bring up to date: the RETURNING row is the job.
        # (The default, "auto", evaluates the WHERE clause in Python for nothing.)
        .execution_options(synchronize_session=False)
    )
    # An ending writes the webhook outbox's rows too, committed with it or not at all: a
    # transaction. Every other move is the one UPDATE, its own transaction (autocommit).
    sessions = services.sessions if status.is_terminal else services.autocommit
    async with sessions() as session:
        job = (await session.scalars(statement)).one_or_none()
        if job is not None and job.status.is_terminal:
            await webhook_outbox.owe_deliveries(session, job)
        await session.commit()
    if job is not None:
        await publish_event(services, job)
        if job.status.is_terminal:
            # Counted where the guarded UPDATE matched: once per job ending. Only retry
            # leaves a terminal status, after which the job may end (and count) again.
            services.metrics.job_finished(job)
            await services.notifier.job_finished(job)  # only enqueues; never raises
    return job


async def _end_with(
    services: Services, event: Event, job_id: str, fence: Fence, error: ImgflowError
) -> Job | None:
    job = await _move(
        services,
        event,
        job_id,
        fence,
        error_code=error.code.value,
        error_message=error.message[:ERROR_MESSAGE_MAX],
        finished_at=fence.now,
        lease_until=None,
    )
    if job is not None:
        log.info("job failed: %s", error.message, extra={"job_id": job_id, "code": error.code})
    return job


def _unfenced() -> Fence:
    return Fence(utcnow())


def _fenced(attempt: int) -> Fence:
    return Fence(utcnow(), attempt)


# The API's


async def accept_upload(
    services: Services,
    job_id: str,
    info: ImageInfo,
    checked_key: str,
    fitted: tuple[list[Output], list[int]] | None = None,
) -> Job | None:
    """The uploaded file passed the checks; the job runs on the copy at `checked_key`,
    with its outputs `fitted` to the source (srcset widths kept, widths skipped; None
    leaves them as recorded)."""
    outputs = {}
    if fitted is not None:
        outputs = {"outputs": outputs_to_json(fitted[0]), "skipped_widths": fitted[1]}
    return await _move(
        services,
        Event.ACCEPT_UPLOAD,
        job_id,
        _unfenced(),
        source_key=checked_key,
        **outputs,
        **source_fields(info),
    )


async def refuse_upload(services: Services, job_id: str, error: ImgflowError) -> Job | None:
    return await _end_with(services, Event.REFUSE_UPLOAD, job_id, _unfenced(), error)


async def cancel(services: Services, job_id: str) -> Job | None:
    fence = _unfenced()
    return await _move(services, Event.CANCEL, job_id, fence, finished_at=fence.now)


async def retry(services: Services, job_id: str) -> Job | None:
    """A clean slate: no error, no timestamps, attempts 0."""
    return await _move(
        services,
        Event.RETRY,
        job_id,
        _unfenced(),
        error_code=None,
        error_message=None,
        attempts=0,
        started_at=None,
        finished_at=None,
        lease_until=None,
    )


# The worker's: every one out of PROCESSING is fenced by the attempt that claimed the
# job, so a worker whose lease ran out and whose job was taken over cannot settle it.


async def claim(services: Services, job_id: str) -> Job | None:
    """Take the job under a lease, counting an attempt. None: finished, cancelled, or
    held by a live lease elsewhere."""
    fence = _unfenced()
    lease = timedelta(seconds=services.settings.lease_seconds)
    return await _move(
        services,
        Event.CLAIM,
        job_id,
        fence,
        attempts=col(Job.attempts) + 1,
        started_at=fence.now,
        lease_until=fence.now + lease,
    )


async def store_output(
    services: Services, job_id: str, attempt: int, outputs: Sequence[Output]
) -> Job | None:
    """One more output is stored (`outputs` as they now stand): subscribers see it, and
    the job's progress, while the worker goes on with the next."""
    return await _move(
        services, Event.STORE_OUTPUT, job_id, _fenced(attempt), outputs=outputs_to_json(outputs)
    )


async def store_analysis(
    services: Services, job_id: str, attempt: int, analysis: Analysis
) -> Job | None:
    """The source's analysis, kept and shown while the outputs are still being made (a
    page paints the BlurHash placeholder meanwhile)."""
    return await _move(
        services,
        Event.STORE_ANALYSIS,
        job_id,
        _fenced(attempt),
        analysis=analysis_to_json(analysis),
    )


async def succeed(
    services: Services, job_id: str, attempt: int, outputs: Sequence[Output]
) -> Job | None:
    """Every output is stored; the result columns show the main one (`default`, else
    the first) for clients that know only `Job.result`."""
    fence = _fenced(attempt)
    main = main_output(outputs)
    return await _move(
        services,
        Event.SUCCEED,
        job_id,
        fence,
        outputs=outputs_to_json(outputs),
        finished_at=fence.now,
        lease_until=None,
        **result_fields(main.image if main is not None else None),
    )


async def fail(services: Services, job_id: str, attempt: int, error: ImgflowError) -> Job | None:
    return await _end_with(services, Event.FAIL, job_id, _fenced(attempt), error)


async def release(services: Services, job_id: str, attempt: int) -> Job | None:
    """A transient failure, to be tried again: the attempt stays counted."""
    return await _move(services, Event.RELEASE, job_id, _fenced(attempt), lease_until=None)


async def hand_back(services: Services, job_id: str, attempt: int) -> Job | None:
    """A job cut short by a shutdown: its attempt is given back, since the image was not
    at fault, and the next worker starts it at once instead of waiting out the lease."""
    return await _move(
        services,
        Event.HAND_BACK,
        job_id,
        _fenced(attempt),
        lease_until=None,
        attempts=col(Job.attempts) - 1,
    )


async def renew_lease(services: Services, job_id: str, attempt: int) -> bool:
    """Extend the lease of a job this worker still holds; False once it was taken over.

    No event and no `updated_at`: a lease is bookkeeping, not a change users see."""
    fence = _fenced(attempt)
    lease_until = fence.now + timedelta(seconds=services.settings.lease_seconds)
    statement = (
        update(Job)
        .where(col(Job.id) == job_id, lifecycle.held(fence))
        .values(lease_until=lease_until)
    )
    async with services.sessions() as session:
        result = await session.execute(statement)
        await session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]  # CursorResult for UPDATE


async def record_source(
    services: Services,
    job_id: str,
    attempt: int,
    info: ImageInfo,
    fitted: tuple[list[Output], list[int]],
) -> bool:
    """The worker fetched the source of a job submitted by URL and it passed the checks:
    its description is kept (a redelivery then reads the stored copy), with its outputs
    `fitted` to it as `accept_upload` does. Like a lease renewal, no change of status;
    False once the job was taken over."""
    outputs, skipped = fitted
    statement = (
        update(Job)
        .where(col(Job.id) == job_id, lifecycle.held(_fenced(attempt)))
        .values(outputs=outputs_to_json(outputs), skipped_widths=skipped, **source_fields(info))
    )
    async with services.sessions() as session:
        result = await session.execute(statement)
        await session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]  # CursorResult for UPDATE


# Housekeeping's


async def reclaim(services: Services, job_id: str, attempt: int) -> Job | None:
    """The lease of `attempt` ran out (its worker is gone): back to the queue."""
    return await _move(services, Event.RECLAIM, job_id, _fenced(attempt), lease_until=None)


async def abandon(services: Services, job_id: str, attempt: int) -> Job | None:
    """The lease of the last allowed attempt ran out: the job fails."""
    error = ImgflowError(
        ErrorCode.PROCESSING_FAILED, f"no worker finished it in {attempt} attempts"
    )
    return await _end_with(services, Event.ABANDON, job_id, _fenced(attempt), error)


async def expire_upload(services: Services, job_id: str) -> Job | None:
    error = ImgflowError(ErrorCode.UPLOAD_EXPIRED, "the upload never arrived")
    return await _end_with(services, Event.EXPIRE_UPLOAD, job_id, _unfenced(), error)


def source_fields(info: ImageInfo) -> dict[str, Any]:
    """The columns describing a source that passed the ingest checks."""
    return {
        "source_format": info.format.value,
        "source_width": info.width,
        "source_height": info.height,
        "source_frames": info.frames,
        "source_bytes": info.bytes,
    }


async def publish_event(services: Services, job: Job) -> None:
    """Tell subscribers; live updates are best effort, the row is the truth."""
    event = job.model_dump(mode="json")
    try:
        await services.events.publish(job_channel(job.id), event)
        await services.events.publish(user_channel(job.owner_id), event)
    except Exception as exc:
        if not is_transient(exc):
            log.exception("event publish failed", extra={"job_id": job.id})
        else:  # Redis away: expected during an outage, and subscribers re-read the rows
            log.warning("event publish failed: %r", exc, extra={"job_id": job.id})
