"""Live job updates over graphql-transport-ws.

Subscribe to the channel first, then read the current state: an update published in
between is then delivered, not lost (there is no "subscribed" acknowledgement in the
protocol to wait for).

Live updates may be interrupted (Redis restarting): the event source then says so
(`EventsUnavailable`) and these streams subscribe again with backoff and re-read the
database, so a client never waits on an update that was lost. The stream stays open;
the client sees the true state as soon as updates flow again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import timedelta

import strawberry

from gql.context import Info
from gql.types import Job
from imgflow.accounts import quotas
from imgflow.backends.events import EventsUnavailable, job_channel, user_channel
from imgflow.jobs import records as jobs
from imgflow.models import Job as JobRow
from imgflow.models import utcnow
from imgflow.services import Services

log = logging.getLogger(__name__)

RESUBSCRIBE_MIN_SECONDS = 0.2
RESUBSCRIBE_MAX_SECONDS = 5.0
REPLAY_MARGIN = timedelta(seconds=1)
"""After an interruption the user stream replays jobs changed since a little before it
lost contact: events are stamped by other processes' clocks."""


async def job_updated(info: Info, id: strawberry.ID) -> AsyncGenerator[Job, None]:
    user = await info.context.user()
    services = info.context.services
    async with quotas.subscription(services, user.id):
        with services.metrics.subscription("jobUpdated"):
            async for row in follow_job(services, user.id, str(id)):
                yield Job.from_row(row)


async def jobs_updated(info: Info) -> AsyncGenerator[Job, None]:
    user = await info.context.user()
    services = info.context.services
    async with quotas.subscription(services, user.id):
        with services.metrics.subscription("jobsUpdated"):
            async for row in follow_owner(services, user.id):
                yield Job.from_row(row)


async def follow_job(services: Services, owner_id: str, job_id: str) -> AsyncIterator[JobRow]:
    """The job's current row, then every newer one, until it is terminal."""
    current: JobRow | None = None
    pause = RESUBSCRIBE_MIN_SECONDS
    while True:
        try:
            async with services.events.subscribe(job_channel(job_id)) as events:
                pause = RESUBSCRIBE_MIN_SECONDS
                row = await jobs.get_job(services, owner_id, job_id)
                if current is None or is_newer(row, current):
                    current = row
                    yield row
                if current.status.is_terminal:
                    return
                async for event in events:
                    row = jobs.job_from_event(event)
                    if is_newer(row, current):
                        current = row
                        yield row
                        if row.status.is_terminal:
                            return
                return  # the event source closed: this process is shutting down
        except EventsUnavailable:
            log.info("live updates interrupted; re-subscribing", extra={"job_id": job_id})
            if current is None:  # down from the start: show the stored state meanwhile
                current = await jobs.get_job(services, owner_id, job_id)
                yield current
                if current.status.is_terminal:
                    return
        await asyncio.sleep(pause)
        pause = min(pause * 2, RESUBSCRIBE_MAX_SECONDS)


async def follow_owner(services: Services, owner_id: str) -> AsyncIterator[JobRow]:
    """Every change to the owner's jobs; after an interruption, each job that changed
    since the last event received is sent again in its current state."""
    seen_until = utcnow()  # every change before this was sent, or predates the stream
    replay = False
    pause = RESUBSCRIBE_MIN_SECONDS
    while True:
        try:
            async with services.events.subscribe(user_channel(owner_id)) as events:
                pause = RESUBSCRIBE_MIN_SECONDS
                subscribed_at = utcnow()
                if replay:
                    since = seen_until - REPLAY_MARGIN
                    for row in await jobs.updated_since(services, owner_id, since):
                        yield row
                    replay = False
                seen_until = subscribed_at
                async for event in events:
                    row = jobs.job_from_event(event)
                    if row.owner_id == owner_id:
                        seen_until = max(seen_until, row.updated_at)
                        yield row
                return  # the event source closed: this process is shutting down
        except EventsUnavailable:
            log.info("live updates interrupted; re-subscribing", extra={"owner_id": owner_id})
            replay = True
        await asyncio.sleep(pause)
        pause = min(pause * 2, RESUBSCRIBE_MAX_SECONDS)


def is_newer(candidate: JobRow, current: JobRow) -> bool:
    """Events may arrive for a change the database read already showed: skip those."""
    return candidate.updated_at > current.updated_at
