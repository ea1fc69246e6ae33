"""Queue figures any signed-in user may read: the per-queue part of the admin's
`system_stats` (imgflow.jobs.stats), without failures by code, and nothing per user.

Any account may ask, and each answer reads up to `stats.LATENCY_SAMPLE` job rows, so
answers are kept for a few seconds (IMGFLOW_QUEUE_STATS_CACHE_SECONDS) per window: a
page polling the figures, opened by many users, costs one read per interval.
"""

from __future__ import annotations

from imgflow.domain import SystemStats
from imgflow.jobs import stats
from imgflow.services import Services


async def queue_overview(services: Services, window_minutes: int) -> SystemStats:
    """The figures for this window, at most IMGFLOW_QUEUE_STATS_CACHE_SECONDS old. The
    admin's figures whole: what a user may see of them is the GraphQL type's choice."""
    ttl = services.settings.queue_stats_cache_seconds

    async def read() -> SystemStats:
        return await stats.system_stats(services, window_minutes)

    return await services.queue_overviews.get(window_minutes, ttl, read)
