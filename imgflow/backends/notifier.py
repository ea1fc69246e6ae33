"""The completion notifier every process holds: SNS when `IMGFLOW_SNS_NOTIFY_TOPIC_ARN`
is set, else the `NullNotifier`, which announces nothing (so a job that ends meanwhile
owes no announcement).

`Notifier.job_finished` runs wherever a job finishes (worker, API, housekeeping) and only
enqueues an arq job (one Redis write), so SNS never sits in a worker's job path;
`imgflow cron` runs that arq job (imgflow.jobs.notifications.publish_completion), which
calls `publish`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import AsyncExitStack
from typing import Any, Protocol

from arq import ArqRedis, create_pool
from arq.connections import RedisSettings

from imgflow.backends.aws import region_from_env
from imgflow.imaging.analysis import analysis_from_json
from imgflow.imaging.outputs import DEFAULT_OUTPUT, outputs_from_json
from imgflow.models import Job
from imgflow.settings import Settings

log = logging.getLogger(__name__)

PUBLISH_FUNCTION = "publish_completion"
ENQUEUE_TIMEOUT_SECONDS = 5.0
"""Bound on the Redis write in the job path: a hung Redis must not hold a job's slot."""


def arq_queue_name(namespace: str) -> str:
    """The arq queue `imgflow cron` works, shared with the enqueueing side."""
    return f"{namespace}:arq"


def completion_message(job: Job) -> tuple[str, dict[str, Any]]:
    """The JSON body and the SNS MessageAttributes announcing a finished job.

    The attributes repeat status and queue so subscribers can filter with an SNS filter
    policy without parsing the body.
    """
    result = None
    if job.result_key is not None:
        result = {
            "format": job.result_format,
            "width": job.result_width,
            "height": job.result_height,
            "bytes": job.result_bytes,
            "frames": job.result_frames,
            "key": job.result_key,
        }
    error = None
    if job.error_code is not None:
        error = {"code": job.error_code, "message": job.error_message}
    body: dict[str, Any] = {
        "jobId": job.id,
        "status": job.status.value,
        "ownerId": job.owner_id,
        "queue": job.queue.value,
        "attempts": job.attempts,
        "finishedAt": job.finished_at.isoformat() if job.finished_at else None,
        "result": result,
        "error": error,
    }
    outputs = outputs_message(job)
    if outputs is not None:
        body["outputs"] = outputs
    if job.analysis is not None:
        body["analysis"] = analysis_message(job.analysis)
    attributes = {
        "status": {"DataType": "String", "StringValue": job.status.value},
        "queue": {"DataType": "String", "StringValue": job.queue.value},
    }
    return json.dumps(body, separators=(",", ":")), attributes


def analysis_message(stored: dict[str, Any]) -> dict[str, Any]:
    """A job's analysis in the API's own words (`Job.analysis`), for `analyze: true` jobs."""
    analysis = analysis_from_json(stored)
    return {
        "blurhash": analysis.blurhash,
        "dominantColors": list(analysis.dominant_colours),
        "phash": analysis.phash,
        "hasAlpha": analysis.has_alpha,
        "animated": analysis.animated,
        "frames": analysis.frames,
        "exif": [{"tag": entry.tag, "value": entry.value} for entry in analysis.exif],
    }


def outputs_message(job: Job) -> list[dict[str, Any]] | None:
    """The stored outputs of a job with variants or a srcset, each as `result` is told
    with its name; None for a job with one `default` output (its message is unchanged:
    `result` says it all)."""
    if job.outputs is None:
        return None
    outputs = outputs_from_json(job.outputs)
    if [output.name for output in outputs] == [DEFAULT_OUTPUT]:
        return None
    return [
        {
            "name": output.name,
            "format": output.image.info.format.value,
            "width": output.image.info.width,
            "height": output.image.info.height,
            "bytes": output.image.info.bytes,
            "frames": output.image.info.frames,
            "key": output.image.key,
        }
        for output in outputs
        if output.image is not None
    ]


class Notifier(Protocol):
    """What every process has for completion notifications, on or off."""

    @property
    def announces(self) -> bool:
        """Whether jobs are announced. A job that ends while they are owes an
        announcement (`notified_at` stays NULL until one is published); while they are
        not it owes none, so turning them on later does not announce the history."""

    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def job_finished(self, job: Job) -> None:
        """Queue the announcement of a job that just ended. Never raises."""

    async def publish(self, job: Job) -> None:
        """Announce the job now (the queued announcement's own work)."""


class NullNotifier:
    """Notifications off: nothing is queued, nothing owed."""

    @property
    def announces(self) -> bool:
        return False

    async def connect(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def job_finished(self, job: Job) -> None:
        pass

    async def publish(self, job: Job) -> None:
        raise RuntimeError("notifications are off: IMGFLOW_SNS_NOTIFY_TOPIC_ARN is not set")


class SnsNotifier:
    """Announces finished jobs: `job_finished` enqueues, `publish` talks to SNS."""

    def __init__(
        self,
        *,
        redis_url: str,
        namespace: str,
        topic_arn: str,
        sns_endpoint_url: str | None = None,
    ) -> None:
        self.redis_url = redis_url
        self.queue_name = arq_queue_name(namespace)
        self.topic_arn = topic_arn
        self.sns_endpoint_url = sns_endpoint_url
        self._redis: ArqRedis | None = None
        # The SNS client is opened on first publish: only the cron process ever publishes,
        # so API and worker processes never load botocore's SNS model.
        self._sns_lock = asyncio.Lock()
        self._sns_stack: AsyncExitStack | None = None
        self._sns: Any = None  # aioboto3 is untyped

    @property
    def announces(self) -> bool:
        return True

    async def connect(self) -> None:
        if self._redis is None:
            self._redis = await create_pool(
                RedisSettings.from_dsn(self.redis_url), default_queue_name=self.queue_name
            )

    async def close(self) -> None:
        redis, self._redis = self._redis, None
        stack, self._sns_stack, self._sns = self._sns_stack, None, None
        try:
            if stack is not None:
                await stack.aclose()
        finally:
            if redis is not None:
                await redis.aclose()

    async def job_finished(self, job: Job) -> None:
        """Queue the announcement of a job that just reached a terminal status.

        Never raises: a job must not fail, or be retried, because notifications are down.
        The arq job id makes a repeated call for the same job and status a no-op.
        """
        if not job.status.is_terminal:
            return
        try:
            if self._redis is None:
                raise RuntimeError("Notifier is not connected")
            await asyncio.wait_for(
                self._redis.enqueue_job(
                    PUBLISH_FUNCTION, job.id, _job_id=f"notify:{job.id}:{job.status.value}"
                ),
                ENQUEUE_TIMEOUT_SECONDS,
            )
        except Exception:
            log.exception("could not queue the completion notification", extra={"job_id": job.id})

    async def publish(self, job: Job) -> None:
        body, attributes = completion_message(job)
        client = await self._sns_client()
        await client.publish(TopicArn=self.topic_arn, Message=body, MessageAttributes=attributes)

    async def _sns_client(self) -> Any:
        async with self._sns_lock:
            if self._sns is None:
                import aioboto3
                from botocore.config import Config

                config = Config(
                    connect_timeout=3,
                    read_timeout=10,
                    # No retries inside botocore: arq's backoff retries the whole publish.
                    retries={"mode": "standard", "max_attempts": 1},
                )
                session = aioboto3.Session(region_name=region_from_env())
                stack = AsyncExitStack()
                self._sns = await stack.enter_async_context(
                    session.client("sns", endpoint_url=self.sns_endpoint_url, config=config)
                )
                self._sns_stack = stack
            return self._sns


def open_notifier(settings: Settings) -> Notifier:
    """The SNS notifier when a topic is configured, else the null one."""
    return sns_notifier(settings) or NullNotifier()


def sns_notifier(settings: Settings) -> SnsNotifier | None:
    """The SNS notifier when a topic is configured, else None (notifications off).

    Refuses a topic without Redis: the publishing is queued on arq, which lives there.
    """
    topic = settings.sns_notify_topic_arn
    if not topic:
        return None
    if not settings.redis_url:
        raise ValueError(
            "IMGFLOW_SNS_NOTIFY_TOPIC_ARN needs IMGFLOW_REDIS_URL: completion notifications "
            "are queued on arq in Redis and published by `imgflow cron`"
        )
    return SnsNotifier(
        redis_url=settings.redis_url,
        namespace=settings.namespace,
        topic_arn=topic,
        sns_endpoint_url=settings.sns_endpoint_url,
    )
