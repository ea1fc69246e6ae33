"""What a delivery carries: the job as the API shows it (camelCase fields, signed links
fresh at each attempt), in Standard Webhooks' envelope `{type, timestamp, data}`."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from imgflow.backends.notifier import analysis_message
from imgflow.domain import WebhookEvent
from imgflow.imaging.outputs import Output
from imgflow.jobs.outputs import outputs_of
from imgflow.models import Job, WebhookDelivery
from imgflow.services import Services


async def body(services: Services, delivery: WebhookDelivery, links_base_url: str) -> bytes:
    """The JSON body of one attempt of `delivery`."""
    job = Job.model_validate(delivery.job)
    base = services.settings.public_url or links_base_url
    envelope = {
        "type": WebhookEvent(delivery.event).type_name,
        "timestamp": iso(job.finished_at or job.updated_at),
        "data": {"job": await job_fields(services, job, base)},
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


async def job_fields(services: Services, job: Job, base_url: str) -> dict[str, Any]:
    source = (job.source_format, job.source_width, job.source_height, job.source_bytes)
    result = (job.result_format, job.result_width, job.result_height, job.result_bytes)
    error = None
    if job.error_code is not None:
        error = {"code": job.error_code, "message": job.error_message or ""}
    return {
        "id": job.id,
        "status": job.status.value,
        "queue": job.queue.value,
        "attempts": job.attempts,
        "createdAt": iso(job.created_at),
        "updatedAt": iso(job.updated_at),
        "startedAt": iso(job.started_at),
        "finishedAt": iso(job.finished_at),
        "sourceUrl": job.source_url,
        "source": await image(services, job.source_key, (*source, job.source_frames), base_url),
        "result": await image(services, job.result_key, (*result, job.result_frames), base_url),
        "outputs": [await output_fields(services, output, base_url) for output in outputs_of(job)],
        "skippedWidths": job.skipped_widths or [],
        "analysis": analysis_message(job.analysis) if job.analysis is not None else None,
        "error": error,
    }


async def output_fields(services: Services, output: Output, base_url: str) -> dict[str, Any]:
    """One output as `Job.outputs` shows it; `image` null until it is stored."""
    stored = output.image
    image_fields = None
    if stored is not None:
        info = stored.info
        described = (info.format.value, info.width, info.height, info.bytes, info.frames)
        image_fields = await image(services, stored.key, described, base_url)
    return {"name": output.name, "srcsetWidth": output.srcset_width, "image": image_fields}


async def image(
    services: Services, key: str | None, fields: tuple[Any, ...], base_url: str
) -> dict[str, Any] | None:
    fmt, width, height, size, frames = fields
    if key is None or fmt is None:
        return None
    return {
        "url": await services.storage.url(key, base_url),
        "format": fmt,
        "width": width or 0,
        "height": height or 0,
        "bytes": size or 0,
        "frames": frames or 1,
    }


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
