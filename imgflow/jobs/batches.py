"""Batches: many files, one spec, one job per file, all or none (`submitImages`).

Every file is checked, and the batch counted against the owner's limits, before any
file is stored; the jobs are recorded in one transaction, so a refusal or an outage
leaves no job behind (the sources stored so far are removed again).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from imgflow.accounts import quotas
from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.info import ImageInfo
from imgflow.imaging.outputs import JobSpec, planned_outputs
from imgflow.jobs import records, transitions
from imgflow.models import Job
from imgflow.services import Services

log = logging.getLogger(__name__)


async def submit_batch(
    services: Services, owner_id: str, files: Sequence[bytes], spec: JobSpec
) -> list[Job]:
    """One job per file, in the files' order; ImgflowError (naming the file, counted
    from 1) and nothing recorded when any of them, or the batch, is refused."""
    check_size(len(files), services.settings.max_batch_files)
    await quotas.count_submissions(services, owner_id, len(files))
    await quotas.check_active_jobs(services, owner_id, adding=len(files))
    records.check_job_spec(services, spec)
    infos = [await inspect(services, number, data, spec) for number, data in enumerate(files, 1)]
    jobs = [records.new_job(owner_id, spec, info=info) for info in infos]
    await store_and_record(services, jobs, files, infos)
    for job in jobs:
        await transitions.publish_event(services, job)
        await records.enqueue(services, job)
    log.info("batch submitted", extra={"jobs": len(jobs)})
    return jobs


def check_size(count: int, limit: int) -> None:
    if count == 0:
        raise ImgflowError(ErrorCode.BAD_USER_INPUT, "files needs at least one file")
    if count > limit:
        raise ImgflowError(
            ErrorCode.TOO_MANY_FILES, f"at most {limit} files per batch, got {count}"
        )


async def inspect(services: Services, number: int, data: bytes, spec: JobSpec) -> ImageInfo:
    if not data:
        raise ImgflowError(ErrorCode.EMPTY_FILE, f"file {number}: the file is empty")
    try:
        info, _ = await records.inspect_source(
            services, data, spec.operations, planned_outputs(spec)
        )
    except ImgflowError as error:
        raise ImgflowError(error.code, f"file {number}: {error.message}") from error
    return info


async def store_and_record(
    services: Services, jobs: Sequence[Job], files: Sequence[bytes], infos: Sequence[ImageInfo]
) -> None:
    stored: list[str] = []
    try:
        for job, data, info in zip(jobs, files, infos, strict=True):
            await services.storage.put(job.source_key, data, info.format.mime_type)
            stored.append(job.source_key)
        async with services.sessions() as session:
            session.add_all(jobs)
            await session.commit()
    except BaseException:
        for key in stored:
            await services.storage.delete(key)
        raise
