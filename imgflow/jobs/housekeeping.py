"""Keeps every accepted job moving: re-publish what no worker took, reclaim what a
dead worker held. The same functions run from the serve loop and (later) from cron."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import func
from sqlmodel import col, select

from imgflow.domain import JobStatus
from imgflow.jobs import records as jobs
from imgflow.jobs import transitions, uploads
from imgflow.models import Job, utcnow
from imgflow.services import Services

log = logging.getLogger(__name__)
REQUEUE_BATCH = 500
NOTIFY_HORIZON = timedelta(days=1)
"""Jobs finished longer ago are not announced late: a topic configured today must not
announce the whole history."""


async def requeue_stale(services: Services, older_than_seconds: float) -> int:
    """Publish again every QUEUED job untouched for `older_than_seconds`.

    Claiming is guarded, so a duplicate message costs one no-op."""
    cutoff = jobs.stale_before(older_than_seconds)
    query = (
        select(Job)
        .where(Job.status == JobStatus.QUEUED, col(Job.updated_at) <= cutoff)
        .order_by(col(Job.created_at))
        .limit(REQUEUE_BATCH)
    )
    async with services.sessions() as session:
        stale = list((await session.exec(query)).all())
    for job in stale:
        await jobs.enqueue(services, job)
    if stale:
        log.info("re-queued %d stale jobs", len(stale))
    return len(stale)


async def reclaim_expired(services: Services) -> int:
    """PROCESSING jobs whose lease ran out: back to QUEUED, or FAILED when out of tries."""
    query = select(Job).where(
        col(Job.status) == JobStatus.PROCESSING, col(Job.lease_until) < utcnow()
    )
    async with services.sessions() as session:
        expired = list((await session.exec(query)).all())
    for job in expired:
        await reclaim(services, job)
    return len(expired)


async def reclaim(services: Services, job: Job) -> None:
    # Fenced by the attempt and the lease both: the worker may have renewed it since
    # the SELECT, or a redelivered message may have taken the job over already.
    if job.attempts >= services.settings.max_attempts:
        await transitions.abandon(services, job.id, job.attempts)
        return
    released = await transitions.reclaim(services, job.id, job.attempts)
    if released is not None:
        log.warning("lease ran out: job queued again", extra={"job_id": job.id})
        await jobs.enqueue(services, released)


async def sweep_uploads(services: Services) -> int:
    """Direct uploads nobody announced: a file that arrived (its S3 event lost, no
    `confirmUpload`) is accepted; a job whose upload window has closed with no file is
    FAILED with UPLOAD_EXPIRED, so nothing waits forever."""
    settings = services.settings
    cutoff = jobs.stale_before(settings.upload_sweep_after_seconds)
    query = (
        select(Job)
        .where(col(Job.status) == JobStatus.AWAITING_UPLOAD, col(Job.created_at) <= cutoff)
        .order_by(col(Job.created_at))
        .limit(REQUEUE_BATCH)
    )
    async with services.sessions() as session:
        waiting = list((await session.exec(query)).all())
    expired_before = jobs.stale_before(settings.upload_ttl_seconds)
    for job in waiting:
        await sweep_upload(services, job, expired=job.created_at <= expired_before)
    return len(waiting)


async def sweep_upload(services: Services, job: Job, *, expired: bool) -> None:
    if await services.storage.head(job.source_key) is not None:
        log.info("accepting an upload nobody announced", extra={"job_id": job.id})
        await uploads.accept(services, job)
    elif expired:
        await transitions.expire_upload(services, job.id)


async def resend_notifications(services: Services) -> int:
    """Queue again the completion notification of every job that finished a while ago
    (IMGFLOW_NOTIFY_RESEND_AFTER_SECONDS) and has none published yet, up to a day back.
    A notification still queued or retrying on arq is not doubled: arq refuses a second
    job with the same id."""
    notifier = services.notifier
    if not notifier.announces:
        return 0
    now = utcnow()
    query = (
        select(Job)
        .where(
            col(Job.notified_at).is_(None),
            col(Job.finished_at)
            <= now - timedelta(seconds=services.settings.notify_resend_after_seconds),
            col(Job.finished_at) > now - NOTIFY_HORIZON,
        )
        .order_by(col(Job.finished_at))
        .limit(REQUEUE_BATCH)
    )
    async with services.sessions() as session:
        unannounced = list((await session.exec(query)).all())
    for job in unannounced:
        await notifier.job_finished(job)
    if unannounced:
        log.info("re-queued %d completion notifications", len(unannounced))
    return len(unannounced)


async def count_unannounced(services: Services) -> int:
    """Finished jobs whose completion notification SNS has not accepted yet, within the
    horizon housekeeping re-sends over: the outbox's backlog."""
    query = select(func.count()).where(
        col(Job.notified_at).is_(None),
        col(Job.finished_at).is_not(None),
        col(Job.finished_at) > utcnow() - NOTIFY_HORIZON,
    )
    async with services.sessions() as session:
        return int((await session.exec(query)).one())


async def run_once(services: Services, requeue_after_seconds: float) -> None:
    """One pass of everything; each step is safe to run concurrently in several processes."""
    await sweep_uploads(services)
    await reclaim_expired(services)
    await requeue_stale(services, requeue_after_seconds)
    await resend_notifications(services)


async def run_forever(services: Services) -> None:
    """Housekeeping loop for `imgflow serve`. A broker that keeps nothing across
    restarts (the in-process one) gets every QUEUED job re-published at once."""
    interval = services.settings.housekeeping_interval_seconds
    settings = services.settings
    requeue_after = float(settings.requeue_after_seconds) if services.broker.durable else 0.0
    while True:
        try:
            await run_once(services, requeue_after)
        except Exception:
            log.exception("housekeeping pass failed")
        requeue_after = float(settings.requeue_after_seconds)
        await asyncio.sleep(interval)
