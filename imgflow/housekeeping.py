"""Keeps every accepted job moving: re-publish what no worker took, reclaim what a
dead worker held. The same functions run from the serve loop and (later) from cron."""

from __future__ import annotations

import asyncio
import logging

from sqlmodel import col, select

from imgflow import jobs
from imgflow.domain import JobStatus
from imgflow.errors import ErrorCode, ImgflowError
from imgflow.models import Job, utcnow
from imgflow.services import Services

log = logging.getLogger(__name__)
REQUEUE_BATCH = 500


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
    if job.attempts >= services.settings.max_attempts:
        error = ImgflowError(
            ErrorCode.PROCESSING_FAILED, f"no worker finished it in {job.attempts} attempts"
        )
        await jobs.fail(services, job.id, error, [JobStatus.PROCESSING])
        return
    released = await jobs.release(services, job.id)
    if released is not None:
        await jobs.enqueue(services, released)


async def expire_uploads(services: Services) -> int:
    """AWAITING_UPLOAD jobs whose upload window closed long ago: FAILED, so nothing
    waits forever for a file that will never come."""
    cutoff = jobs.stale_before(services.settings.upload_ttl_seconds)
    query = select(Job).where(
        col(Job.status) == JobStatus.AWAITING_UPLOAD, col(Job.created_at) <= cutoff
    )
    async with services.sessions() as session:
        waiting = list((await session.exec(query)).all())
    error = ImgflowError(ErrorCode.UPLOAD_EXPIRED, "the upload never arrived")
    for job in waiting:
        await jobs.fail(services, job.id, error, [JobStatus.AWAITING_UPLOAD])
    return len(waiting)


async def run_once(services: Services, requeue_after_seconds: float) -> None:
    """One pass of everything; each step is safe to run concurrently in several processes."""
    await expire_uploads(services)
    await reclaim_expired(services)
    await requeue_stale(services, requeue_after_seconds)


async def run_forever(services: Services) -> None:
    """Housekeeping loop for `imgflow serve`. A broker that keeps nothing across
    restarts (the in-process one) gets every QUEUED job re-published at once."""
    interval = services.settings.housekeeping_interval_seconds
    requeue_after = float(services.settings.lease_seconds) if services.broker.durable else 0.0
    while True:
        try:
            await run_once(services, requeue_after)
        except Exception:
            log.exception("housekeeping pass failed")
        requeue_after = float(services.settings.lease_seconds)
        await asyncio.sleep(interval)
