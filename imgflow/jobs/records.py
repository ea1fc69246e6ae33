"""Jobs in and out: submit (or build for a direct upload), record, queue, read, page.

Every later change of status is a named transition (`imgflow.jobs.transitions`). Nothing
here knows about GraphQL, and nothing here touches pixels except through
`imgflow.imaging.ingest`, run in the image thread pool.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from imgflow.accounts import quotas
from imgflow.backends.storage import source_key, upload_key
from imgflow.domain import JobStatus
from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.info import ImageInfo
from imgflow.imaging.ingest import check_job, probe
from imgflow.imaging.operations import Operation, pipeline_to_json
from imgflow.imaging.outputs import (
    JobSpec,
    Output,
    check_spec,
    fit_widths,
    outputs_to_json,
    planned_outputs,
)
from imgflow.imaging.planning import prefix_width
from imgflow.imaging.routing import route_outputs
from imgflow.jobs import cursors, lifecycle, sources, transitions
from imgflow.jobs.lifecycle import Event
from imgflow.models import IDEMPOTENCY_KEY_MAX, URL_MAX, Job, new_id, utcnow
from imgflow.outbound.guard import OutboundRefused, split_url
from imgflow.services import Services

log = logging.getLogger(__name__)
REPLAY_LIMIT = 1000
"""Most jobs a subscription re-sends after live updates were interrupted."""


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    has_next_page: bool


def not_found(job_id: str) -> ImgflowError:
    return ImgflowError(ErrorCode.NOT_FOUND, f"no job with id {job_id!r}")


@dataclass(frozen=True)
class Submission:
    """What a client asks of a new job, whatever brings its source (`submitImage`'s
    file, `submitImageUrl`'s URL): the one place their shared arguments travel."""

    spec: JobSpec
    idempotency_key: str | None = None


@dataclass(frozen=True)
class SourceUrl:
    """A source the worker fetches (never the API): an http(s) URL."""

    url: str


async def submit(
    services: Services, owner_id: str, source: bytes | SourceUrl, submission: Submission
) -> Job:
    """Check the request (and a file's content), store the file, record the job, queue it.

    A refusal raises before anything is stored: no job is left behind. With an
    idempotency key the owner already used, that job is returned and nothing else
    happens: the key alone decides, whatever the source and pipeline this time (and
    even at the active-jobs limit: the job exists already). A URL is only checked for
    form here; the worker fetches it through the SSRF guard.
    """
    key = submission.idempotency_key
    await quotas.count_submission(services, owner_id)
    if key is not None:
        check_idempotency_key(key)
        existing = await by_idempotency_key(services, owner_id, key)
        if existing is not None:
            return existing
    await quotas.check_active_jobs(services, owner_id)
    spec = submission.spec
    check_job_spec(services, spec)
    await sources.check(services, owner_id, spec_steps(spec))
    if isinstance(source, SourceUrl):
        url = checked_url(source.url)
        job = new_job(owner_id, spec, info=None, idempotency_key=key, source_url=url)
        winner = await store_and_record(services, job, None, "")
    else:
        info, _ = await inspect_source(services, source, spec.operations, planned_outputs(spec))
        job = new_job(owner_id, spec, info=info, idempotency_key=key)
        winner = await store_and_record(services, job, source, info.format.mime_type)
    if winner is not None:
        return winner
    await transitions.publish_event(services, job)
    log.info("job submitted", extra={"job_id": job.id, "queue": job.queue.value})
    await enqueue(services, job)
    return job


def checked_url(url: str) -> str:
    """BAD_USER_INPUT unless `url` is an absolute http(s) URL of a usable length."""
    if len(url) > URL_MAX:
        raise ImgflowError(ErrorCode.BAD_USER_INPUT, f"url must be at most {URL_MAX} characters")
    try:
        split_url(url)
    except OutboundRefused as exc:
        raise ImgflowError(ErrorCode.BAD_USER_INPUT, f"url: {exc}") from None
    return url


async def store_and_record(
    services: Services, job: Job, data: bytes | None, mime_type: str
) -> Job | None:
    """Store the source (if given), then commit the row; the source goes again if the
    row does not.

    None once `job` is recorded. A concurrent submission with the same idempotency key
    can commit between our look-up and our insert: the unique constraint refuses ours,
    and the job that won is returned instead."""
    if data is not None:
        await services.storage.put(job.source_key, data, mime_type)
    try:
        await record(services, job)
    except BaseException as error:
        if data is not None:
            await services.storage.delete(job.source_key)
        winner = await race_winner(services, job, error)
        if winner is None:
            raise
        log.info("idempotency key already used; answering its job", extra={"job_id": winner.id})
        return winner
    return None


async def race_winner(services: Services, job: Job, error: BaseException) -> Job | None:
    """The job holding `job`'s idempotency key, when that is why the insert failed."""
    if not isinstance(error, IntegrityError) or job.idempotency_key is None:
        return None
    return await by_idempotency_key(services, job.owner_id, job.idempotency_key)


def check_idempotency_key(key: str) -> None:
    # Printable only: keys end up in logs and support requests, where control
    # characters hide what was sent.
    if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX or not key.isprintable():
        raise ImgflowError(
            ErrorCode.BAD_USER_INPUT,
            f"idempotencyKey must be 1 to {IDEMPOTENCY_KEY_MAX} printable characters",
        )


async def by_idempotency_key(services: Services, owner_id: str, key: str) -> Job | None:
    query = select(Job).where(Job.owner_id == owner_id, Job.idempotency_key == key)
    async with services.sessions() as session:
        return (await session.exec(query)).one_or_none()


async def inspect_source(
    services: Services, data: bytes, prefix: Sequence[Operation], outputs: Sequence[Output]
) -> tuple[ImageInfo, tuple[list[Output], list[int]]]:
    """The ingest checks, from headers only: size, real format, pixel and frame limits,
    and whether the whole job fits the image. Raises ImgflowError with the code. Returns
    the source's info and the outputs fitted to it, with the srcset widths skipped."""
    settings = services.settings
    if len(data) > settings.max_upload_bytes:
        raise ImgflowError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"the file is {len(data)} bytes; the limit is {settings.max_upload_bytes}",
        )
    loop = asyncio.get_running_loop()
    info = await loop.run_in_executor(services.image_pool, probe, data, settings.image_limits)
    return info, check_job(info, prefix, outputs, settings.image_limits)


def spec_steps(spec: JobSpec) -> list[Operation]:
    """Every step the spec asks for: its prefix's and each planned output's."""
    return [*spec.operations, *(op for output in planned_outputs(spec) for op in output.operations)]


def check_job_spec(services: Services, spec: JobSpec) -> None:
    """BAD_USER_INPUT or TOO_MANY_OUTPUTS for a spec no source could make right."""
    settings = services.settings
    check_spec(spec, max_outputs=settings.max_outputs, max_operations=settings.max_operations)


def new_job(
    owner_id: str,
    spec: JobSpec,
    *,
    info: ImageInfo | None,
    idempotency_key: str | None = None,
    source_url: str | None = None,
) -> Job:
    """The one place a job row is built. With `info` (its source passed the checks) the
    job is submitted, its srcset widths fitted to the source; with `source_url` the worker
    fetches its source; with neither, it awaits a direct upload of its file. Without
    `info` the widths are fitted when the source arrives. The status it is born in is
    the lifecycle table's."""
    job_id = new_id()
    outputs, skipped = planned_outputs(spec), None
    source: dict[str, Any]
    if source_url is not None:
        born, key, source = Event.SUBMIT_URL, source_key(job_id), {"source_url": source_url}
    elif info is None:
        born, key, source = Event.REQUEST_UPLOAD, upload_key(job_id), {}
    else:
        born, key, source = Event.SUBMIT, source_key(job_id), transitions.source_fields(info)
        width = prefix_width((info.width, info.height), spec.operations)
        outputs, skipped = fit_widths(outputs, width)
    return Job(
        id=job_id,
        owner_id=owner_id,
        idempotency_key=idempotency_key,
        status=lifecycle.target(born),
        queue=route_outputs(spec.operations, [output.operations for output in outputs]),
        operations=pipeline_to_json(spec.operations),
        outputs=outputs_to_json(outputs),
        skipped_widths=skipped,
        analyze=spec.analyze,
        source_key=key,
        **source,
    )


async def record(services: Services, job: Job) -> None:
    async with services.autocommit() as session:  # one INSERT
        session.add(job)
        await session.commit()


async def enqueue(services: Services, job: Job) -> None:
    """Hand the job to the broker. A failure here is logged, not raised: the row is
    committed, and housekeeping re-publishes QUEUED jobs that no worker took."""
    extra = {"job_id": job.id, "queue": job.queue.value}
    try:
        await services.broker.publish(job.queue, job.id)
    except Exception:
        log.exception("publish failed; housekeeping will re-queue", extra=extra)
    else:
        log.info("job published", extra=extra)


async def get_job(services: Services, owner_id: str, job_id: str) -> Job:
    """The caller's job; another user's job answers exactly like a missing one."""
    job = await load(services, job_id)
    if job is None or job.owner_id != owner_id:
        raise not_found(job_id)
    return job


async def load(services: Services, job_id: str) -> Job | None:
    """Any job by id, whoever owns it: for internal callers only."""
    async with services.autocommit() as session:
        return await session.get(Job, job_id)


async def list_jobs(
    services: Services,
    owner_id: str,
    first: int,
    after: str | None,
    status: JobStatus | None,
) -> JobPage:
    """Newest first, keyset-paginated on (created_at, id)."""
    query = select(Job).where(Job.owner_id == owner_id)
    if status is not None:
        query = query.where(Job.status == status)
    if after is not None:
        created_at, job_id = cursors.decode(after)
        query = query.where(
            or_(
                col(Job.created_at) < created_at,
                and_(col(Job.created_at) == created_at, col(Job.id) < job_id),
            )
        )
    query = query.order_by(col(Job.created_at).desc(), col(Job.id).desc()).limit(first + 1)
    async with services.sessions() as session:
        rows = list((await session.exec(query)).all())
    return JobPage(rows[:first], has_next_page=len(rows) > first)


async def updated_since(services: Services, owner_id: str, since: datetime) -> list[Job]:
    """The owner's jobs changed at or after `since`, oldest change first (bounded)."""
    query = (
        select(Job)
        .where(Job.owner_id == owner_id, col(Job.updated_at) >= since)
        .order_by(col(Job.updated_at))
        .limit(REPLAY_LIMIT)
    )
    async with services.sessions() as session:
        return list((await session.exec(query)).all())


async def lease_left(services: Services, job_id: str) -> float | None:
    """Seconds until the lease of a PROCESSING job runs out; None if it is not held."""
    job = await load(services, job_id)
    if job is None or job.status != JobStatus.PROCESSING or job.lease_until is None:
        return None
    left = (job.lease_until - utcnow()).total_seconds()
    return left if left > 0 else None


def job_from_event(event: dict[str, Any]) -> Job:
    return Job.model_validate(event)


def stale_before(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)
