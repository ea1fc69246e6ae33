"""imgflow.jobs.streams driven directly: real embedded services (SQLite, in-process events),
jobs changed by the real transitions, and a stand-in for an events outage.

Each test reads the stream step by step (`anext`), changing the job between steps, so
what a step may see is known; the waits between re-subscriptions are cut to
milliseconds (`FAST`).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from imgflow import migrate
from imgflow.backends.events import Event, EventsUnavailable, job_channel, user_channel
from imgflow.backends.events.memory import MemoryEvents
from imgflow.domain import JobStatus
from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.formats import ImageFormat
from imgflow.imaging.info import ImageInfo
from imgflow.imaging.operations import Resize
from imgflow.imaging.outputs import DEFAULT_OUTPUT, JobSpec, Output, StoredImage
from imgflow.jobs import records as jobs
from imgflow.jobs import streams, transitions
from imgflow.models import Job, User, new_id
from imgflow.services import Services, open_services
from imgflow.settings import Settings

FAST = streams.Backoff(first_seconds=0.001, most_seconds=0.004)
SOURCE = ImageInfo(ImageFormat.PNG, width=8, height=6, frames=1, bytes=100)
RESULT = ImageInfo(ImageFormat.WEBP, width=4, height=3, frames=1, bytes=50)
STORED = [Output(DEFAULT_OUTPUT, image=StoredImage("results/x", RESULT))]
STEP_SECONDS = 5.0
"""How long one step of a stream may take: generous, since a failing test waits it out."""
CUT: Event = {"outage": "the connection to the event source was lost"}
"""Published by `OutageEvents.cut` to make live subscriptions fail (compared by identity)."""
CLOSED: Event = {"closed": "the event source is shutting down"}
"""Published by `OutageEvents.close_channel` to end live subscriptions (by identity)."""
Change = Callable[[], Awaitable[object]]


class OutageEvents:
    """The in-process events, with an outage on demand. It stands for Redis going away,
    which tests/integration/test_redis_events.py and tests/faults test for real: live
    subscriptions fail with EventsUnavailable (`cut`), the next `refusals` subscribes
    raise it, and `during` runs at the first refusal (what changes while updates are
    down: its events reach no one, as none would through a Redis that is away)."""

    def __init__(self, inner: MemoryEvents) -> None:
        self.inner = inner
        self.refusals = 0
        self.refused = 0
        self.during: Change | None = None

    async def cut(self, channel: str, refusals: int, during: Change | None = None) -> None:
        self.refusals, self.during = refusals, during
        await self.inner.publish(channel, CUT)

    async def close_channel(self, channel: str) -> None:
        await self.inner.publish(channel, CLOSED)

    def subscribed(self, channel: str) -> bool:
        return channel in self.inner.subscribers

    async def connect(self) -> None:
        await self.inner.connect()

    async def publish(self, channel: str, event: Event) -> None:
        await self.inner.publish(channel, event)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[Event]]:
        if self.refusals > 0:
            self.refusals -= 1
            self.refused += 1
            during, self.during = self.during, None
            if during is not None:
                await during()
            raise EventsUnavailable("Redis is away")
        async with self.inner.subscribe(channel) as events:
            yield _until_cut(events)

    async def ping(self) -> None:
        await self.inner.ping()

    async def close(self) -> None:
        await self.inner.close()


async def _until_cut(events: AsyncIterator[Event]) -> AsyncIterator[Event]:
    async for event in events:
        if event is CUT:
            raise EventsUnavailable("lost the connection to Redis")
        if event is CLOSED:
            return
        yield event


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir: Path = tmp_path_factory.mktemp("streams")
    settings = Settings(data_dir=data_dir, jwt_secret="s" * 48, redis_url=None)
    migrate.upgrade(settings.resolved_database_url)  # runs its own event loop: not in one
    return settings


@pytest.fixture(scope="module")
async def embedded(settings: Settings) -> AsyncIterator[Services]:
    async with open_services(settings) as services:
        yield services


@pytest.fixture
def services(embedded: Services) -> Services:
    """The embedded services, their events behind a fresh `OutageEvents`."""
    assert isinstance(embedded.events, MemoryEvents)
    return dataclasses.replace(embedded, events=OutageEvents(embedded.events))


def outage(services: Services) -> OutageEvents:
    assert isinstance(services.events, OutageEvents)
    return services.events


@pytest.fixture
async def owner(embedded: Services) -> str:
    return await new_owner(embedded)


async def new_owner(services: Services) -> str:
    user = User(email=f"{new_id()}@example.com", password_hash="x")
    async with services.sessions() as session:
        session.add(user)
        await session.commit()
    return user.id


async def queued_job(services: Services, owner_id: str) -> Job:
    job = jobs.new_job(owner_id, JobSpec((Resize(width=4),)), info=SOURCE)
    await jobs.record(services, job)
    return job


async def run(services: Services, job_id: str) -> None:
    """A worker's run of the job: claimed, then succeeded."""
    claimed = await transitions.claim(services, job_id)
    assert claimed is not None
    assert await transitions.succeed(services, job_id, claimed.attempts, STORED)


async def step(stream: AsyncIterator[Job]) -> Job:
    return await asyncio.wait_for(anext(stream), STEP_SECONDS)


async def ended(stream: AsyncIterator[Job]) -> bool:
    try:
        await step(stream)
    except StopAsyncIteration:
        return True
    return False


async def subscribed(services: Services, channel: str) -> None:
    """Returns once a stream listens on `channel` (its first step waits for an event)."""
    async with asyncio.timeout(STEP_SECONDS):
        while not outage(services).subscribed(channel):
            await asyncio.sleep(0.005)


def statuses(rows: list[Job]) -> list[JobStatus]:
    return [row.status for row in rows]


# -- one job ------------------------------------------------------------------------


async def test_a_job_stream_sends_the_current_state_then_each_change_until_it_ends(
    services: Services, owner: str
) -> None:
    job = await queued_job(services, owner)
    stream = streams.follow_job(services, owner, job.id, backoff=FAST)
    seen = [await step(stream)]
    claimed = await transitions.claim(services, job.id)
    assert claimed is not None
    seen.append(await step(stream))
    await transitions.succeed(services, job.id, claimed.attempts, STORED)
    seen.append(await step(stream))
    assert statuses(seen) == [JobStatus.QUEUED, JobStatus.PROCESSING, JobStatus.SUCCEEDED]
    assert seen[-1].result_width == RESULT.width
    assert await ended(stream)


async def test_a_finished_job_is_sent_once(services: Services, owner: str) -> None:
    job = await queued_job(services, owner)
    await transitions.cancel(services, job.id)
    stream = streams.follow_job(services, owner, job.id, backoff=FAST)
    assert (await step(stream)).status is JobStatus.CANCELLED
    assert await ended(stream)


async def test_events_for_changes_already_shown_are_skipped(services: Services, owner: str) -> None:
    job = await queued_job(services, owner)
    stream = streams.follow_job(services, owner, job.id, backoff=FAST)
    read = await step(stream)
    older = read.model_copy(
        update={"status": JobStatus.CANCELLED, "updated_at": read.updated_at - timedelta(seconds=1)}
    )
    await transitions.publish_event(services, read)  # the change the read showed
    await transitions.publish_event(services, older)  # stale: would end the stream
    await transitions.claim(services, job.id)
    assert (await step(stream)).status is JobStatus.PROCESSING
    await stream.aclose()


async def test_a_job_stream_rereads_the_job_after_an_outage(services: Services, owner: str) -> None:
    job = await queued_job(services, owner)
    stream = streams.follow_job(services, owner, job.id, backoff=FAST)
    assert (await step(stream)).status is JobStatus.QUEUED
    # The job runs while live updates are down: its events are lost.
    await outage(services).cut(
        job_channel(job.id), refusals=3, during=lambda: run(services, job.id)
    )
    final = await step(stream)
    assert final.status is JobStatus.SUCCEEDED
    stored = await jobs.load(services, job.id)
    assert stored is not None
    assert final.model_dump() == stored.model_dump()
    assert outage(services).refused == 3
    assert await ended(stream)


async def test_a_job_stream_down_from_the_start_sends_the_stored_state(
    services: Services, owner: str
) -> None:
    job = await queued_job(services, owner)
    outage(services).refusals = 2
    stream = streams.follow_job(services, owner, job.id, backoff=FAST)
    assert (await step(stream)).status is JobStatus.QUEUED  # read while still refused
    await run(services, job.id)
    assert (await step(stream)).status is JobStatus.SUCCEEDED  # re-read once subscribed
    assert await ended(stream)


async def test_another_owners_job_is_refused_like_a_missing_one(
    services: Services, owner: str
) -> None:
    job = await queued_job(services, owner)
    stranger = await new_owner(services)
    for job_id in (job.id, new_id()):
        with pytest.raises(ImgflowError) as refused:
            await step(streams.follow_job(services, stranger, job_id, backoff=FAST))
        assert refused.value.code is ErrorCode.NOT_FOUND


# -- one owner's jobs ---------------------------------------------------------------


async def test_the_owner_stream_replays_jobs_changed_during_an_outage(
    services: Services, owner: str
) -> None:
    before, ran, cancelled = [await queued_job(services, owner) for _ in range(3)]
    stream = streams.follow_owner(services, owner, backoff=FAST)
    first = asyncio.create_task(step(stream))
    await subscribed(services, user_channel(owner))
    await transitions.cancel(services, before.id)
    assert (await first).id == before.id

    async def meanwhile() -> None:
        await run(services, ran.id)
        await transitions.cancel(services, cancelled.id)

    await outage(services).cut(user_channel(owner), refusals=2, during=meanwhile)
    replayed: dict[str, JobStatus] = {}
    while {ran.id, cancelled.id} - set(replayed):
        row = await step(stream)
        replayed[row.id] = row.status
    assert replayed[ran.id] is JobStatus.SUCCEEDED
    assert replayed[cancelled.id] is JobStatus.CANCELLED
    assert outage(services).refused == 2
    await stream.aclose()


async def test_the_owner_stream_sends_only_the_owners_jobs(services: Services, owner: str) -> None:
    stranger = await new_owner(services)
    theirs, mine = await queued_job(services, stranger), await queued_job(services, owner)
    stream = streams.follow_owner(services, owner, backoff=FAST)
    first = asyncio.create_task(step(stream))
    await subscribed(services, user_channel(owner))
    await transitions.cancel(services, theirs.id)
    misrouted = await jobs.load(services, theirs.id)
    assert misrouted is not None
    await services.events.publish(user_channel(owner), misrouted.model_dump(mode="json"))
    await transitions.cancel(services, mine.id)
    assert (await first).id == mine.id
    await stream.aclose()


async def test_the_owner_stream_skips_a_change_older_than_one_it_sent(
    services: Services, owner: str
) -> None:
    """A worker cut off mid-publish delivers its PROCESSING event when it heals, after
    another worker took the job over and finished it: the stream does not go back."""
    job = await queued_job(services, owner)
    stream = streams.follow_owner(services, owner, backoff=FAST)
    first = asyncio.create_task(step(stream))
    await subscribed(services, user_channel(owner))
    claimed = await transitions.claim(services, job.id)
    assert claimed is not None
    assert (await first).status is JobStatus.PROCESSING
    assert await transitions.succeed(services, job.id, claimed.attempts, STORED)
    assert (await step(stream)).status is JobStatus.SUCCEEDED
    late = asyncio.create_task(step(stream))
    await services.events.publish(user_channel(owner), claimed.model_dump(mode="json"))
    other = await queued_job(services, owner)
    await transitions.cancel(services, other.id)
    assert (await late).id == other.id  # the late PROCESSING was skipped
    await stream.aclose()


async def test_streams_end_when_the_event_source_closes(services: Services, owner: str) -> None:
    job = await queued_job(services, owner)
    job_stream = streams.follow_job(services, owner, job.id, backoff=FAST)
    assert (await step(job_stream)).status is JobStatus.QUEUED
    owner_stream = streams.follow_owner(services, owner, backoff=FAST)
    waiting = asyncio.create_task(ended(owner_stream))
    await subscribed(services, user_channel(owner))
    await outage(services).close_channel(job_channel(job.id))
    await outage(services).close_channel(user_channel(owner))
    assert await ended(job_stream)
    assert await waiting
