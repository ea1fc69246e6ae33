"""Live job updates over graphql-transport-ws: the streams of `imgflow.jobs.streams`, each
holding a place in the user's subscription quota and counted in the metrics while it
runs, its rows sent as GraphQL jobs."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing

import strawberry

from gql.context import Info
from gql.types import Job
from imgflow.accounts import quotas
from imgflow.jobs import streams
from imgflow.models import Job as JobRow
from imgflow.services import Services

Follow = Callable[[Services, str], AsyncGenerator[JobRow, None]]
"""A stream of job rows for (services, owner id)."""


async def job_updated(info: Info, id: strawberry.ID) -> AsyncGenerator[Job, None]:
    def follow(services: Services, owner_id: str) -> AsyncGenerator[JobRow, None]:
        return streams.follow_job(services, owner_id, str(id))

    async with aclosing(_send(info, "jobUpdated", follow)) as updates:
        async for job in updates:
            yield job


async def jobs_updated(info: Info) -> AsyncGenerator[Job, None]:
    async with aclosing(_send(info, "jobsUpdated", streams.follow_owner)) as updates:
        async for job in updates:
            yield job


async def _send(info: Info, field: str, follow: Follow) -> AsyncGenerator[Job, None]:
    """The user's stream, as GraphQL jobs. Closed promptly with its resolver (aclosing), so
    the quota place is given back however the subscription ends."""
    user = await info.context.user()
    services = info.context.services
    async with quotas.subscription(services, user.id):
        with services.metrics.subscription(field):
            async with aclosing(follow(services, user.id)) as rows:
                async for row in rows:
                    yield Job.from_row(row)
