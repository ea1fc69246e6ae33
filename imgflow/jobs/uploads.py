"""Direct uploads: a job waits in AWAITING_UPLOAD while the client sends its file
straight to storage, then is accepted, by the client's `confirmUpload` or by the S3
event SNS delivers, whichever comes first. Both run the same ingest checks as
`submitImage`; a file that fails them fails its job with the code."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from imgflow.accounts import quotas
from imgflow.backends.storage import UPLOADS_PREFIX, UploadForm, source_key
from imgflow.domain import JobStatus
from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.operations import pipeline_from_json
from imgflow.imaging.outputs import JobSpec
from imgflow.jobs import records as jobs
from imgflow.jobs import transitions
from imgflow.jobs.outputs import outputs_of
from imgflow.models import Job, utcnow
from imgflow.services import Services

log = logging.getLogger(__name__)
MAX_NAME = 255


@dataclass(frozen=True)
class UploadTicket:
    job: Job
    form: UploadForm
    expires_at: datetime


async def request_upload(
    services: Services,
    owner_id: str,
    filename: str,
    content_type: str,
    spec: JobSpec,
    base_url: str,
) -> UploadTicket:
    """Record a job awaiting its file, and sign a form for exactly that file.

    The file name and declared type are only checked for sanity: the format is
    sniffed from the bytes once they arrive."""
    await quotas.count_submission(services, owner_id)
    for name, value in (("filename", filename), ("contentType", content_type)):
        if not value.strip() or len(value) > MAX_NAME:
            raise ImgflowError(
                ErrorCode.BAD_USER_INPUT, f"{name} must be 1 to {MAX_NAME} characters"
            )
    settings = services.settings
    jobs.check_job_spec(services, spec)
    await quotas.check_active_jobs(services, owner_id)
    job = jobs.new_job(owner_id, spec, info=None)
    ttl = settings.upload_ttl_seconds
    form = await services.storage.upload_form(
        job.source_key, settings.max_upload_bytes, ttl, base_url
    )
    await jobs.record(services, job)
    log.info("upload requested", extra={"job_id": job.id, "queue": job.queue.value})
    await transitions.publish_event(services, job)
    return UploadTicket(job, form, (utcnow() + timedelta(seconds=ttl)).replace(microsecond=0))


async def confirm_upload(services: Services, owner_id: str, job_id: str) -> Job:
    """The client says its file is there. Idempotent: a job already accepted (or
    failed) is returned as it is."""
    job = await jobs.get_job(services, owner_id, job_id)
    if job.status is not JobStatus.AWAITING_UPLOAD:
        return job
    return await accept(services, job)


def upload_job_id(object_key: str) -> str | None:
    """The job a direct-upload key belongs to (`.../uploads/<job id>`), if it is one."""
    _, marker, job_id = object_key.rpartition(UPLOADS_PREFIX)
    return job_id if marker and job_id else None


async def check_form_unused(services: Services, object_key: str) -> None:
    """UPLOAD_ALREADY_USED unless the form for `object_key` still waits for its file:
    its job awaits the upload and nothing is stored there yet. A form is good for one
    upload (the embedded /uploads endpoint asks; S3 cannot, see `accept`)."""
    job_id = upload_job_id(object_key)
    job = await jobs.load(services, job_id) if job_id else None
    waiting = job is not None and job.status is JobStatus.AWAITING_UPLOAD
    if not waiting or await services.storage.head(object_key) is not None:
        raise ImgflowError(
            ErrorCode.UPLOAD_ALREADY_USED,
            "this upload form has been used: request a new upload for another file",
        )


async def object_created(services: Services, object_key: str) -> None:
    """An S3 ObjectCreated event (via SNS). Unknown keys and jobs already accepted are
    ignored: S3 and SNS deliver at least once."""
    job_id = upload_job_id(object_key)
    if job_id is None:
        log.info("ignored object outside the uploads prefix: %s", object_key)
        return
    job = await jobs.load(services, job_id)
    if job is None or job.status is not JobStatus.AWAITING_UPLOAD:
        log.info("ignored upload event for %s", object_key, extra={"job_id": job_id})
        return
    await accept(services, job)


async def accept(services: Services, job: Job) -> Job:
    """AWAITING_UPLOAD -> QUEUED after the ingest checks, or -> FAILED with their code."""
    if await services.storage.head(job.source_key) is None:
        raise ImgflowError(ErrorCode.UPLOAD_MISSING, "no file has been uploaded for this job yet")
    data = await services.storage.get(job.source_key)
    try:
        prefix = pipeline_from_json(job.operations)
        info, fitted = await jobs.inspect_source(services, data, prefix, outputs_of(job))
    except ImgflowError as error:
        failed = await transitions.refuse_upload(services, job.id, error)
        return failed or await current(services, job.id)
    # The checked bytes are what the job runs on: kept under a key no upload form can
    # write, so posting the form again (it stays valid until it expires, and S3 cannot
    # refuse a second POST) changes nothing once the job is accepted.
    checked_key = source_key(job.id)
    await services.storage.put(checked_key, data, "application/octet-stream")
    queued = await transitions.accept_upload(services, job.id, info, checked_key, fitted)
    if queued is None:  # accepted meanwhile by the other path (event or confirmation)
        return await current(services, job.id)
    log.info("upload accepted", extra={"job_id": job.id, "queue": queued.queue.value})
    await jobs.enqueue(services, queued)
    return queued


async def current(services: Services, job_id: str) -> Job:
    job = await jobs.load(services, job_id)
    if job is None:
        raise jobs.not_found(job_id)
    return job
