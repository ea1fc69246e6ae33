"""Live streams of job rows: what `jobUpdated` and `jobsUpdated` send, without GraphQL.

`follow_job` yields one job's rows, `follow_owner` every change to one owner's jobs.
What they guarantee:

- Subscribe first, then read. `follow_job` subscribes to the job's channel before it
  reads the row, so a change made in between arrives as an event instead of being lost
  (there is no "subscribed" acknowledgement in the protocol to wait for).
- Newest only. An event for a change the read already showed (an `updated_at` not after
  the last row sent) is skipped: a job's stream never goes back in time. The owner's
  stream skips an event older than one it sent for the same job: a worker cut off the
  network mid-publish delivers its event when it heals, after the job was taken over.
- Interruptions are survived. An event source that may have lost events says so with
  `EventsUnavailable` (Redis restarting); the stream then subscribes again, with
  exponential `Backoff`, and re-reads the database: `follow_job` reads the row again,
  `follow_owner` replays every job of the owner changed since a little
  (`REPLAY_MARGIN`) before the last event it received. The stream stays open meanwhile,
  so a client never waits on an update that was lost and sees the true state as soon as
  updates flow again. A job stream whose first subscription fails sends the stored row
  meanwhile.
- Ends. `follow_job` ends after sending a terminal state (an already-finished job sends
  it once); both end when the event source closes (this process is shutting down).
- One owner. `follow_job` refuses another owner's job exactly like a missing one
  (`NOT_FOUND`); `follow_owner` never sends another owner's job.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime, timedelta

from imgflow.backends.events import Event, EventsUnavailable, job_channel, user_channel
from imgflow.jobs import records as jobs
from imgflow.models import Job, utcnow
from imgflow.services import Services

log = logging.getLogger(__name__)

REPLAY_MARGIN = timedelta(seconds=1)
"""After an interruption the owner's stream replays jobs changed since a little before it
lost contact: events are stamped by other processes' clocks."""
OWNER_STREAM_JOBS_REMEMBERED = 10_000
"""Jobs whose newest change the owner's stream remembers, to skip late older ones."""


@dataclass(frozen=True)
class Backoff:
    """Waits between attempts to subscribe again: from `first_seconds`, doubling up to
    `most_seconds`; back to `first_seconds` once a subscription is made."""

    first_seconds: float = 0.2
    most_seconds: float = 5.0


RESUBSCRIBE = Backoff()


async def follow_job(
    services: Services, owner_id: str, job_id: str, *, backoff: Backoff = RESUBSCRIBE
) -> AsyncGenerator[Job, None]:
    """The job's current row, then every newer one, until it is terminal."""
    sent = _Newest()
    pauses = _Pauses(backoff)
    while True:
        try:
            async with services.events.subscribe(job_channel(job_id)) as events:
                pauses.reset()
                rows_now = _stored_then_published(services, owner_id, job_id, events)
                async with aclosing(rows_now) as rows:
                    async for row in rows:
                        if sent.take(row):
                            yield row
                        if sent.finished:
                            return
                return  # the event source closed: this process is shutting down
        except EventsUnavailable:
            log.info("live updates interrupted; re-subscribing", extra={"job_id": job_id})
            if sent.row is None:  # down from the start: show the stored state meanwhile
                stored = await jobs.get_job(services, owner_id, job_id)
                sent.take(stored)
                yield stored
                if sent.finished:
                    return
        await pauses.wait()


async def follow_owner(
    services: Services, owner_id: str, *, backoff: Backoff = RESUBSCRIBE
) -> AsyncGenerator[Job, None]:
    """Every change to the owner's jobs; after an interruption, each job that changed
    since the last event received is sent again in its current state."""
    seen_until = utcnow()  # every change before this was sent, or predates the stream
    replay = False
    pauses = _Pauses(backoff)
    sent = _NewestPerJob(OWNER_STREAM_JOBS_REMEMBERED)
    while True:
        try:
            async with services.events.subscribe(user_channel(owner_id)) as events:
                pauses.reset()
                subscribed_at = utcnow()
                if replay:
                    for row in await jobs.updated_since(
                        services, owner_id, seen_until - REPLAY_MARGIN
                    ):
                        sent.take(row)
                        yield row
                    replay = False
                seen_until = subscribed_at
                async for event in events:
                    row = jobs.job_from_event(event)
                    if row.owner_id == owner_id and sent.take(row):
                        seen_until = max(seen_until, row.updated_at)
                        yield row
                return  # the event source closed: this process is shutting down
        except EventsUnavailable:
            log.info("live updates interrupted; re-subscribing", extra={"owner_id": owner_id})
            replay = True
        await pauses.wait()


def is_newer(candidate: Job, current: Job) -> bool:
    """Events may arrive for a change the database read already showed: skip those."""
    return candidate.updated_at > current.updated_at


async def _stored_then_published(
    services: Services, owner_id: str, job_id: str, events: AsyncIterator[Event]
) -> AsyncGenerator[Job, None]:
    """The row as stored now (read after subscribing), then the row of each event."""
    yield await jobs.get_job(services, owner_id, job_id)
    async for event in events:
        yield jobs.job_from_event(event)


class _Newest:
    """The newest row of one job sent so far."""

    def __init__(self) -> None:
        self.row: Job | None = None

    def take(self, candidate: Job) -> bool:
        """Keep `candidate` if it is newer than what was sent: True if it is to be sent."""
        if self.row is not None and not is_newer(candidate, self.row):
            return False
        self.row = candidate
        return True

    @property
    def finished(self) -> bool:
        return self.row is not None and self.row.status.is_terminal


class _NewestPerJob:
    """When each of the last `size` jobs sent last changed."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.changed: OrderedDict[str, datetime] = OrderedDict()

    def take(self, row: Job) -> bool:
        """Remember `row` if it is the job's newest so far: True if it is to be sent."""
        last = self.changed.get(row.id)
        if last is not None and row.updated_at <= last:
            return False
        self.changed[row.id] = row.updated_at
        self.changed.move_to_end(row.id)
        if len(self.changed) > self.size:
            self.changed.popitem(last=False)
        return True


class _Pauses:
    """The next wait of a `Backoff`."""

    def __init__(self, backoff: Backoff) -> None:
        self._backoff = backoff
        self._next = backoff.first_seconds

    def reset(self) -> None:
        self._next = self._backoff.first_seconds

    async def wait(self) -> None:
        await asyncio.sleep(self._next)
        self._next = min(self._next * 2, self._backoff.most_seconds)
