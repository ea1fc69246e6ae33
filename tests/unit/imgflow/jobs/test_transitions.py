"""The lifecycle table, exhaustively, against a real (SQLite) database: every named
transition moves a job exactly from the statuses its rows list, to its target, and
leaves a job in any other status untouched; and the fences (attempt, lease, checked
source) and the notification outbox hold as before."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from imgflow import migrate
from imgflow.backends.storage import source_key
from imgflow.domain import JobStatus, QueueName
from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.analysis import Analysis
from imgflow.imaging.formats import ImageFormat
from imgflow.imaging.info import ImageInfo
from imgflow.imaging.operations import Resize
from imgflow.imaging.outputs import DEFAULT_OUTPUT, JobSpec, Output, StoredImage
from imgflow.jobs import lifecycle, transitions
from imgflow.jobs import records as jobs
from imgflow.jobs.lifecycle import Actor, Event, Transition
from imgflow.models import Job, User, new_id, utcnow
from imgflow.services import Services, open_services
from imgflow.settings import Settings

ATTEMPT = 2
INFO = ImageInfo(ImageFormat.PNG, width=8, height=6, frames=1, bytes=100)
ERROR = ImgflowError(ErrorCode.UNSUPPORTED_FORMAT, "not an image")
OUTPUTS = [Output(DEFAULT_OUTPUT, image=StoredImage("results/x.png", INFO))]
ANALYSIS = Analysis(
    "L00000fQfQfQfQfQfQfQfQfQfQfQ", ("#ff0000",), "8000000000000000", False, False, 1, ()
)
Move = Callable[[Services, str], Awaitable[Job | None]]

MOVES: dict[Event, Move] = {
    Event.ACCEPT_UPLOAD: lambda s, j: transitions.accept_upload(s, j, INFO, source_key(j)),
    Event.REFUSE_UPLOAD: lambda s, j: transitions.refuse_upload(s, j, ERROR),
    Event.EXPIRE_UPLOAD: transitions.expire_upload,
    Event.CANCEL: transitions.cancel,
    Event.RETRY: transitions.retry,
    Event.CLAIM: transitions.claim,
    Event.STORE_OUTPUT: lambda s, j: transitions.store_output(s, j, ATTEMPT, OUTPUTS),
    Event.STORE_ANALYSIS: lambda s, j: transitions.store_analysis(s, j, ATTEMPT, ANALYSIS),
    Event.SUCCEED: lambda s, j: transitions.succeed(s, j, ATTEMPT, OUTPUTS),
    Event.FAIL: lambda s, j: transitions.fail(s, j, ATTEMPT, ERROR),
    Event.RELEASE: lambda s, j: transitions.release(s, j, ATTEMPT),
    Event.HAND_BACK: lambda s, j: transitions.hand_back(s, j, ATTEMPT),
    Event.RECLAIM: lambda s, j: transitions.reclaim(s, j, ATTEMPT),
    Event.ABANDON: lambda s, j: transitions.abandon(s, j, ATTEMPT),
}
"""Each event's named transition, called as its caller calls it (fenced by ATTEMPT)."""
S = JobStatus
TODAY = {
    (None, Event.SUBMIT, S.QUEUED),
    (None, Event.SUBMIT_URL, S.QUEUED),
    (None, Event.REQUEST_UPLOAD, S.AWAITING_UPLOAD),
    (S.AWAITING_UPLOAD, Event.ACCEPT_UPLOAD, S.QUEUED),
    (S.AWAITING_UPLOAD, Event.REFUSE_UPLOAD, S.FAILED),
    (S.AWAITING_UPLOAD, Event.EXPIRE_UPLOAD, S.FAILED),
    (S.AWAITING_UPLOAD, Event.CANCEL, S.CANCELLED),
    (S.QUEUED, Event.CANCEL, S.CANCELLED),
    (S.QUEUED, Event.CLAIM, S.PROCESSING),
    (S.PROCESSING, Event.CLAIM, S.PROCESSING),
    (S.PROCESSING, Event.STORE_OUTPUT, S.PROCESSING),
    (S.PROCESSING, Event.STORE_ANALYSIS, S.PROCESSING),
    (S.PROCESSING, Event.SUCCEED, S.SUCCEEDED),
    (S.PROCESSING, Event.FAIL, S.FAILED),
    (S.PROCESSING, Event.RELEASE, S.QUEUED),
    (S.PROCESSING, Event.HAND_BACK, S.QUEUED),
    (S.PROCESSING, Event.RECLAIM, S.QUEUED),
    (S.PROCESSING, Event.ABANDON, S.FAILED),
    (S.FAILED, Event.RETRY, S.QUEUED),
}
"""The moves the service made before the table existed: changing the table is a change
of behaviour, so it changes this too."""
CHANGES = [event for event in Event if not lifecycle.creates(event)]
ALLOWED = {(row.source, row.event): row.target for row in lifecycle.TRANSITIONS}


class Recorder:
    """A notifier that announces, and remembers what it was asked to announce."""

    def __init__(self) -> None:
        self.finished: list[tuple[str, JobStatus]] = []

    @property
    def announces(self) -> bool:
        return True

    async def connect(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def job_finished(self, job: Job) -> None:
        self.finished.append((job.id, job.status))

    async def publish(self, job: Job) -> None:
        raise AssertionError("nothing publishes in these tests")


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir: Path = tmp_path_factory.mktemp("transitions")
    settings = Settings(data_dir=data_dir, jwt_secret="t" * 48)
    migrate.upgrade(settings.resolved_database_url)
    return settings


@pytest.fixture(scope="module")
async def services(settings: Settings) -> AsyncIterator[Services]:
    async with open_services(settings) as services:
        yield services


@pytest.fixture(scope="module")
async def owner(services: Services) -> str:
    user = User(email=f"{new_id()}@example.com", password_hash="x")
    async with services.sessions() as session:
        session.add(user)
        await session.commit()
    return user.id


async def job_in(services: Services, owner: str, status: JobStatus, **fields: Any) -> Job:
    """A job in `status` that meets every condition of the table (held by ATTEMPT, its
    lease run out, its source checked), so only the status decides."""
    past = utcnow() - timedelta(minutes=5)
    values: dict[str, Any] = {
        "status": status,
        "queue": QueueName.RESIZE,
        "operations": [{"resize": {"width": 4}}],
        "source_format": "PNG",
        "attempts": ATTEMPT,
        "lease_until": past,
        "started_at": past,
        "updated_at": past,
        **fields,
    }
    job = Job(id=new_id(), owner_id=owner, source_key="sources/x", **values)
    async with services.sessions() as session:
        session.add(job)
        await session.commit()
    return job


async def row(services: Services, job_id: str) -> dict[str, Any]:
    loaded = await jobs.load(services, job_id)
    assert loaded is not None
    return loaded.model_dump()


def test_the_table_is_the_moves_the_service_makes() -> None:
    assert {(row.source, row.event, row.target) for row in lifecycle.TRANSITIONS} == TODAY


def test_every_event_that_changes_a_job_has_a_named_transition() -> None:
    assert set(MOVES) == set(CHANGES)


def test_who_causes_each_event() -> None:
    by = {event: set().union(*(row.by for row in lifecycle.rows(event))) for event in Event}
    api, worker, housekeeping = Actor.API, Actor.WORKER, Actor.HOUSEKEEPING
    assert by == {
        Event.SUBMIT: {api},
        Event.SUBMIT_URL: {api},
        Event.REQUEST_UPLOAD: {api},
        Event.ACCEPT_UPLOAD: {api, housekeeping},
        Event.REFUSE_UPLOAD: {api, housekeeping},
        Event.EXPIRE_UPLOAD: {housekeeping},
        Event.CANCEL: {api},
        Event.RETRY: {api},
        Event.CLAIM: {worker},
        Event.STORE_OUTPUT: {worker},
        Event.STORE_ANALYSIS: {worker},
        Event.SUCCEED: {worker},
        Event.FAIL: {worker},
        Event.RELEASE: {worker},
        Event.HAND_BACK: {worker},
        Event.RECLAIM: {housekeeping},
        Event.ABANDON: {housekeeping},
    }


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        (Transition(S.QUEUED, Event.CANCEL, S.FAILED, frozenset({Actor.API})), "two rows"),
        (Transition(S.FAILED, Event.CANCEL, S.FAILED, frozenset({Actor.API})), "one target"),
        (Transition(S.FAILED, Event.CANCEL, S.CANCELLED, frozenset()), "nobody"),
    ],
    ids=["repeated", "two targets", "nobody"],
)
def test_an_ambiguous_table_is_refused(row: Transition, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        lifecycle.check((*lifecycle.TRANSITIONS, row))


@pytest.mark.parametrize(
    ("status", "event"),
    list(itertools.product(JobStatus, CHANGES)),
    ids=lambda value: str(value.value),
)
async def test_table_decides_every_status_and_event(
    services: Services, owner: str, status: JobStatus, event: Event
) -> None:
    job = await job_in(services, owner, status)
    before = await row(services, job.id)
    moved = await MOVES[event](services, job.id)
    target = ALLOWED.get((status, event))
    if target is None:
        assert moved is None
        assert await row(services, job.id) == before
    else:
        assert moved is not None
        assert moved.status is target
        assert (await row(services, job.id))["status"] is target


@pytest.mark.parametrize(
    "event",
    [row.event for row in lifecycle.TRANSITIONS if lifecycle.HELD in row.when],
    ids=str,
)
async def test_a_worker_that_lost_its_claim_settles_nothing(
    services: Services, owner: str, event: Event
) -> None:
    job = await job_in(services, owner, JobStatus.PROCESSING, attempts=ATTEMPT + 1)
    assert await MOVES[event](services, job.id) is None


@pytest.mark.parametrize("event", [Event.CLAIM, Event.RECLAIM, Event.ABANDON], ids=str)
async def test_a_live_lease_is_not_taken(services: Services, owner: str, event: Event) -> None:
    live = utcnow() + timedelta(minutes=5)
    job = await job_in(services, owner, JobStatus.PROCESSING, lease_until=live)
    assert await MOVES[event](services, job.id) is None


async def test_only_a_checked_source_is_retried(services: Services, owner: str) -> None:
    job = await job_in(services, owner, JobStatus.FAILED, source_format=None)
    assert await transitions.retry(services, job.id) is None


async def test_attempts_count_claims_not_hand_backs(services: Services, owner: str) -> None:
    queued = await job_in(services, owner, JobStatus.QUEUED)
    claimed = await transitions.claim(services, queued.id)
    assert claimed is not None
    assert claimed.attempts == ATTEMPT + 1
    assert claimed.lease_until is not None
    assert claimed.lease_until > utcnow()
    released = await transitions.release(services, queued.id, ATTEMPT + 1)
    assert released is not None
    assert released.attempts == ATTEMPT + 1
    handed = await job_in(services, owner, JobStatus.PROCESSING)
    back = await transitions.hand_back(services, handed.id, ATTEMPT)
    assert back is not None
    assert back.attempts == ATTEMPT - 1
    assert back.lease_until is None


async def test_retry_starts_a_clean_slate(services: Services, owner: str) -> None:
    failed = await job_in(services, owner, JobStatus.FAILED, error_code="X", error_message="y")
    queued = await transitions.retry(services, failed.id)
    assert queued is not None
    assert (queued.error_code, queued.error_message, queued.attempts) == (None, None, 0)
    assert (queued.started_at, queued.finished_at, queued.lease_until) == (None, None, None)


async def test_without_notifications_an_ending_owes_nothing(services: Services, owner: str) -> None:
    job = await job_in(services, owner, JobStatus.QUEUED)
    cancelled = await transitions.cancel(services, job.id)
    assert cancelled is not None
    assert cancelled.notified_at == cancelled.updated_at


async def test_with_notifications_an_ending_is_owed_and_announced_once(
    services: Services, owner: str
) -> None:
    recorder = Recorder()
    announcing = dataclasses.replace(services, notifier=recorder)
    job = await job_in(services, owner, JobStatus.PROCESSING)
    failed = await transitions.fail(announcing, job.id, ATTEMPT, ERROR)
    assert failed is not None
    assert failed.notified_at is None
    assert await transitions.fail(announcing, job.id, ATTEMPT, ERROR) is None
    assert recorder.finished == [(job.id, JobStatus.FAILED)]


def test_jobs_are_born_in_the_tables_statuses() -> None:
    pipeline = JobSpec((Resize(width=4),))
    submitted = jobs.new_job("owner", pipeline, info=INFO, idempotency_key="k")
    assert submitted.status is lifecycle.target(Event.SUBMIT) is JobStatus.QUEUED
    assert submitted.source_format == "PNG"
    assert submitted.idempotency_key == "k"
    awaiting = jobs.new_job("owner", pipeline, info=None)
    assert awaiting.status is lifecycle.target(Event.REQUEST_UPLOAD)
    assert awaiting.status is JobStatus.AWAITING_UPLOAD
    assert awaiting.source_format is None
