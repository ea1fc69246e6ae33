"""Completion notifications: one SNS message per job that reaches a terminal state.

The notifier (imgflow.backends.notifier) queues an arq job wherever a job finishes;
`publish_completion` is that arq job: it runs in `imgflow cron`'s arq worker, reads the
row and publishes, retrying with backoff while SNS is unreachable.

The job row is the outbox: `notified_at` is set once SNS accepted the message, and
housekeeping queues again every finished job still without it (its arq job lost with
a Redis that was down or restarted empty). Delivery is therefore at least once: a
subscriber may see a job's message twice (same `jobId` and `status`), never zero times.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from arq import Retry
from sqlalchemy import update
from sqlmodel import col

from imgflow.models import Job, utcnow
from imgflow.services import Services

log = logging.getLogger(__name__)

PUBLISH_MAX_TRIES = 20
"""arq tries per notification; with the backoff below that is roughly 15 minutes of
SNS outage before a notification is given up (and logged as an error)."""
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 60.0


def backoff_seconds(job_try: int, rng: random.Random | None = None) -> float:
    """Delay before try `job_try + 1`: 1, 2, 4 ... capped at 60 s, with "equal jitter"
    (half fixed, half random) so notifications queued during one outage do not all
    retry in lockstep, while each still backs off."""
    exponent = min(max(job_try - 1, 0), 16)  # the cap is reached long before; no huge floats
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0**exponent)
    draw = rng.random() if rng is not None else random.random()
    return ceiling / 2 + draw * ceiling / 2


async def publish_completion(ctx: dict[str, Any], job_id: str) -> None:
    """arq job: publish the completion message of `job_id`, retrying with backoff."""
    services: Services = ctx["services"]
    notifier = services.notifier
    if not notifier.announces:
        # Queued by a process with a topic, picked up by a cron without one: a deployment
        # mistake that retrying cannot fix.
        log.error(
            "completion notification dropped: IMGFLOW_SNS_NOTIFY_TOPIC_ARN is not set here",
            extra={"job_id": job_id},
        )
        return
    job_try = int(ctx.get("job_try", 1))
    try:
        async with services.sessions() as session:
            job = await session.get(Job, job_id)
        if job is None:
            log.warning("completion notification for a missing job", extra={"job_id": job_id})
            return
        await notifier.publish(job)
        await mark_notified(services, job_id)
    except Exception as exc:
        if job_try >= PUBLISH_MAX_TRIES:
            log.exception(
                "completion notification given up after %d tries", job_try, extra={"job_id": job_id}
            )
            raise
        delay = backoff_seconds(job_try)
        log.warning(
            "completion notification failed (try %d), retrying in %.1fs: %r",
            job_try,
            delay,
            exc,
            extra={"job_id": job_id},
        )
        raise Retry(defer=delay) from exc


async def mark_notified(services: Services, job_id: str) -> None:
    async with services.sessions() as session:
        await session.execute(update(Job).where(col(Job.id) == job_id).values(notified_at=utcnow()))
        await session.commit()
