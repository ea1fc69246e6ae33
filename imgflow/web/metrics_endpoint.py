"""`GET /metrics`: this process's metrics in the Prometheus text format.

Queue depth is the one figure read at scrape time rather than counted as it changes:
the API publishes and a worker, maybe in another process, takes, so no process could
keep the count, and the broker's own count differs between backends (RabbitMQ does not
count messages waiting in its delay queues or held unacked by a worker). The job rows
are the truth on every backend, as for `systemStats`; the read is one grouped COUNT
(imgflow.jobs.stats). It is done by processes running the API only: the figure is the whole
system's, the same from every process, and workers keep their database connections
for jobs.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from imgflow.domain import JobStatus, QueueName
from imgflow.jobs import housekeeping
from imgflow.jobs import stats as admin
from imgflow.models import utcnow
from imgflow.services import Services
from imgflow.webhooks import deliveries

log = logging.getLogger(__name__)
DEPTH_READ_TIMEOUT_SECONDS = 3.0
"""Under Prometheus' default scrape timeout (10 s): a slow database costs the depth
figure, not the whole scrape."""


def metrics_route(*, queue_depth: bool) -> Route:
    async def metrics(request: Request) -> Response:
        services: Services = request.app.state.services
        if queue_depth:
            await refresh_queue_depth(services)
        return Response(services.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return Route("/metrics", metrics, methods=["GET"])


async def refresh_queue_depth(services: Services) -> None:
    """Queue depth, the oldest waiting job's age per queue, the webhook deliveries owed
    and, while notifications are on, the notification outbox's backlog: the figures
    alerts watch (deploy/prometheus)."""
    metrics = services.metrics
    try:
        async with asyncio.timeout(DEPTH_READ_TIMEOUT_SECONDS):
            waiting = await admin.waiting_by_queue(services)
            oldest = await admin.oldest_queued_by_queue(services)
            unannounced = (
                await housekeeping.count_unannounced(services)
                if services.notifier.announces
                else None
            )
            owed_deliveries = await deliveries.count_pending(services)
    except Exception as exc:
        log.warning("queue depth not read for /metrics: %r", exc)
        metrics.forget_queue_depth()
        metrics.notifications_pending.set(float("nan"))
        metrics.webhook_deliveries_pending.set(float("nan"))
        return
    metrics.set_queue_depth({q: waiting[(q, JobStatus.QUEUED)] for q in QueueName})
    metrics.set_oldest_queued(oldest, utcnow())
    metrics.webhook_deliveries_pending.set(owed_deliveries)
    if unannounced is not None:
        metrics.notifications_pending.set(unannounced)
