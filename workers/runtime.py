"""Queue consumers: one per queue, each with its own concurrency, Pillow in a pool.

A message is acked only after the result object and the row are written. A message
for a job that is finished, cancelled, or held under a live lease is acked and ignored,
so redelivery is harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from imgflow import jobs
from imgflow.broker import Consumer, Message
from imgflow.domain import JobStatus, QueueName
from imgflow.errors import ErrorCode, ImgflowError
from imgflow.models import Job
from imgflow.services import Services
from imgflow.storage import ObjectMissing, result_key
from workers.operations import pipeline_from_json
from workers.pipeline import render

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.consumers: list[Consumer] = []

    async def start(self, concurrency: Mapping[QueueName, int]) -> None:
        for queue, count in concurrency.items():
            if count > 0:
                consumer = await self.services.broker.consume(queue, count, self.handle)
                self.consumers.append(consumer)
        log.info(
            "worker consuming", extra={"concurrency": {q.value: n for q, n in concurrency.items()}}
        )

    async def stop(self, grace_seconds: float = 30.0) -> None:
        await asyncio.gather(*(consumer.stop(grace_seconds) for consumer in self.consumers))
        self.consumers = []

    async def handle(self, message: Message) -> None:
        job = await jobs.claim(self.services, message.job_id)
        if job is None:
            log.debug("nothing to do", extra={"job_id": message.job_id})
            return
        log.info("job started", extra=job_fields(job))
        try:
            await self.process(job)
        except ImgflowError as error:
            await jobs.fail(self.services, job.id, error, [JobStatus.PROCESSING])
        except ObjectMissing:
            gone = ImgflowError(ErrorCode.PROCESSING_FAILED, "the source image is gone")
            await jobs.fail(self.services, job.id, gone, [JobStatus.PROCESSING])
        except Exception as exc:
            await self.retry_or_fail(job, exc)

    async def process(self, job: Job) -> None:
        services = self.services
        source = await services.storage.get(job.source_key)
        operations = pipeline_from_json(job.operations)
        rendered = await asyncio.get_running_loop().run_in_executor(
            services.image_pool, render, source, operations, services.settings.limits
        )
        key = result_key(job.id, rendered.info.format)
        await services.storage.put(key, rendered.data, rendered.info.format.mime_type)
        if await jobs.succeed(services, job.id, key, rendered.info):
            log.info("job succeeded", extra=job_fields(job))

    async def retry_or_fail(self, job: Job, exc: Exception) -> None:
        """Infrastructure trouble: hand the job back for another try, or give up."""
        log.warning("job attempt %d failed: %r", job.attempts, exc, extra={"job_id": job.id})
        if job.attempts >= self.services.settings.max_attempts:
            error = ImgflowError(
                ErrorCode.PROCESSING_FAILED,
                f"gave up after {job.attempts} attempts: {type(exc).__name__}",
            )
            await jobs.fail(self.services, job.id, error, [JobStatus.PROCESSING])
            return
        await jobs.release(self.services, job.id)
        raise exc


def job_fields(job: Job) -> dict[str, object]:
    """What every worker log line says about its job (JSON logs keep them as fields)."""
    return {"job_id": job.id, "queue": job.queue.value, "attempt": job.attempts}
