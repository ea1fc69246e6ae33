"""Other jobs' results a pipeline reads (an overlay's image): only the owner's own
SUCCEEDED jobs, checked at submission and again when the worker fetches them."""

from __future__ import annotations

from collections.abc import Sequence

from imgflow.backends.storage import ObjectMissing
from imgflow.domain import JobStatus
from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.step import Step
from imgflow.models import Job
from imgflow.services import Services


async def check(services: Services, owner_id: str, operations: Sequence[Step]) -> dict[str, str]:
    """The result key of each job the steps read. Another user's job answers like a
    missing one (NOT_FOUND); one of the owner's that has not succeeded is refused."""
    keys: dict[str, str] = {}
    for op in operations:
        for job_id in op.sources():
            async with services.sessions() as session:
                job = await session.get(Job, job_id)
            if job is None or job.owner_id != owner_id:
                raise ImgflowError(ErrorCode.NOT_FOUND, f"{op.name}: no job with id {job_id!r}")
            if job.status is not JobStatus.SUCCEEDED or job.result_key is None:
                raise ImgflowError(
                    ErrorCode.BAD_USER_INPUT,
                    f"{op.name}: job {job_id!r} is {job.status.value}; only a SUCCEEDED "
                    "job's result can be used",
                )
            keys[job_id] = job.result_key
    return keys


async def read(services: Services, owner_id: str, operations: Sequence[Step]) -> dict[str, bytes]:
    """The encoded results the steps read, checked again (a job may be gone since the
    submission): a result that is gone fails the job with NOT_FOUND."""
    pictures: dict[str, bytes] = {}
    for job_id, key in (await check(services, owner_id, operations)).items():
        try:
            pictures[job_id] = await services.storage.get(key)
        except ObjectMissing:
            raise ImgflowError(
                ErrorCode.NOT_FOUND, f"the result of job {job_id!r} is gone"
            ) from None
    return pictures
