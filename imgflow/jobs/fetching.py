"""Sources by URL (`submitImageUrl`): the worker downloads them through the SSRF guard,
http(s) only, at most 3 redirects (each checked again), the body capped at
IMGFLOW_MAX_UPLOAD_BYTES while it streams, under a connect and a total timeout; then
the bytes go through the same checks as an upload. Every failure is the URL's, so the
job FAILS with a FETCH_* code (or the upload checks' own) and is not retried."""

from __future__ import annotations

import logging

import httpx

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.operations import pipeline_from_json
from imgflow.jobs import records, transitions
from imgflow.jobs.outputs import outputs_of
from imgflow.models import Job
from imgflow.outbound.client import BodyTooLarge, get, guarded_client
from imgflow.outbound.guard import Guard, OutboundRefused
from imgflow.services import Services
from imgflow.settings import Settings

log = logging.getLogger(__name__)
MAX_REDIRECTS = 3


async def fetch_source(services: Services, job: Job) -> tuple[bytes, Job]:
    """Download, check and store the source of a job submitted by URL; the job as it now
    stands, its srcset widths fitted to the source like a direct upload's."""
    if job.source_url is None:
        raise ValueError("the job has no source URL")
    data = await download(services.settings, job.source_url)
    prefix = pipeline_from_json(job.operations)
    info, fitted = await records.inspect_source(services, data, prefix, outputs_of(job))
    await services.storage.put(job.source_key, data, info.format.mime_type)
    # Taken over meanwhile: nothing recorded, and this attempt's fenced stores fail too.
    await transitions.record_source(services, job.id, job.attempts, info, fitted)
    log.info("source fetched", extra={"job_id": job.id, "bytes": len(data)})
    return data, await records.load(services, job.id) or job


async def download(settings: Settings, url: str) -> bytes:
    """The body at `url`, or ImgflowError with a FETCH_* code."""
    limit = settings.max_upload_bytes
    client = guarded_client(
        Guard.from_setting(settings.outbound_allow),
        connect_timeout=settings.fetch_connect_timeout_seconds,
        read_timeout=settings.fetch_timeout_seconds,
        max_redirects=MAX_REDIRECTS,
    )
    try:
        async with client:
            return await get(client, url, limit, settings.fetch_timeout_seconds)
    except OutboundRefused as exc:
        raise ImgflowError(ErrorCode.FETCH_REFUSED, f"the image URL is not allowed: {exc}") from exc
    except BodyTooLarge as exc:
        raise ImgflowError(ErrorCode.FETCH_TOO_LARGE, f"the image at the URL: {exc}") from exc
    except httpx.HTTPStatusError as exc:
        code = exc.response.status_code
        raise ImgflowError(ErrorCode.FETCH_FAILED, f"the server answered {code}") from exc
    except httpx.TooManyRedirects as exc:
        message = f"more than {MAX_REDIRECTS} redirects"
        raise ImgflowError(ErrorCode.FETCH_FAILED, message) from exc
    except (TimeoutError, httpx.TimeoutException) as exc:
        message = f"no complete answer within {settings.fetch_timeout_seconds:g} s"
        raise ImgflowError(ErrorCode.FETCH_FAILED, message) from exc
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
        message = f"the image could not be fetched: {type(exc).__name__}: {exc}"
        raise ImgflowError(ErrorCode.FETCH_FAILED, message) from exc
