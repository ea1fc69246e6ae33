"""Live job updates over graphql-transport-ws.

Subscribe to the channel first, then read the current state: an update published in
between is then delivered, not lost (there is no "subscribed" acknowledgement in the
protocol to wait for).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from gql.context import Info
from gql.types import Job
from imgflow import jobs
from imgflow.events import job_channel, user_channel
from imgflow.models import Job as JobRow


async def job_updated(info: Info, id: strawberry.ID) -> AsyncGenerator[Job, None]:
    user = await info.context.user()
    services = info.context.services
    async with services.events.subscribe(job_channel(str(id))) as events:
        current = await jobs.get_job(services, user.id, str(id))
        yield Job.from_row(current)
        if current.status.is_terminal:
            return
        async for event in events:
            row = jobs.job_from_event(event)
            if not is_newer(row, current):
                continue
            current = row
            yield Job.from_row(row)
            if row.status.is_terminal:
                return


async def jobs_updated(info: Info) -> AsyncGenerator[Job, None]:
    user = await info.context.user()
    async with info.context.services.events.subscribe(user_channel(user.id)) as events:
        async for event in events:
            row = jobs.job_from_event(event)
            if row.owner_id == user.id:
                yield Job.from_row(row)


def is_newer(candidate: JobRow, current: JobRow) -> bool:
    """Events may arrive for a change the database read already showed: skip those."""
    return candidate.updated_at > current.updated_at
