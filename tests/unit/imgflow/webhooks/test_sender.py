"""The webhook outbox and sender against a real (SQLite) database and a real HTTP
receiver: what a job's ending owes, the retry schedule running out, and an endpoint
disabled after failing too long, then enabled again by a redelivery."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from imgflow import migrate
from imgflow.domain import JobStatus, QueueName, WebhookEvent
from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.formats import ImageFormat
from imgflow.imaging.info import ImageInfo
from imgflow.imaging.outputs import DEFAULT_OUTPUT, Output, StoredImage
from imgflow.jobs import transitions
from imgflow.models import Job, User, Webhook, WebhookDelivery, new_id, utcnow
from imgflow.services import Services, open_services
from imgflow.settings import Settings
from imgflow.webhooks import deliveries, endpoints
from imgflow.webhooks.sender import Sender
from tests.receiver import Receiver, running_receiver

INFO = ImageInfo(ImageFormat.PNG, width=8, height=6, frames=1, bytes=100)


def stored(key: str) -> list[Output]:
    return [Output(DEFAULT_OUTPUT, image=StoredImage(key, INFO))]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Settings:
    data_dir: Path = tmp_path_factory.mktemp("webhooks")
    settings = Settings(
        data_dir=data_dir,
        jwt_secret="t" * 48,
        outbound_allow=f"127.0.0.1:{receiver.port}",
        webhook_retry_schedule=(0,),
        webhook_timeout_seconds=2,
    )
    migrate.upgrade(settings.resolved_database_url)
    return settings


@pytest.fixture(scope="module")
async def services(settings: Settings) -> AsyncIterator[Services]:
    async with open_services(settings) as services:
        yield services


async def new_owner(services: Services) -> str:
    user = User(email=f"{new_id()}@example.com", password_hash="x")
    async with services.sessions() as session:
        session.add(user)
        await session.commit()
    return user.id


async def processing_job(services: Services, owner: str) -> Job:
    job = Job(
        id=new_id(),
        owner_id=owner,
        status=JobStatus.PROCESSING,
        queue=QueueName.ROTATE,
        operations=[{"op": "rotate", "degrees": 90}],
        source_key="sources/x",
        source_format="PNG",
        attempts=1,
        lease_until=utcnow() + timedelta(minutes=1),
    )
    async with services.sessions() as session:
        session.add(job)
        await session.commit()
    return job


async def owed(services: Services, webhook_id: str) -> list[WebhookDelivery]:
    query = select(WebhookDelivery).where(
        col(WebhookDelivery.webhook_id) == webhook_id, col(WebhookDelivery.attempted_at).is_(None)
    )
    async with services.sessions() as session:
        return list((await session.exec(query)).all())


async def drain(services: Services) -> None:
    """Send until nothing is due (retries after 0 s included)."""
    sender = Sender(services)
    try:
        while await sender.send_due():
            await asyncio.gather(*sender.sending)
    finally:
        await sender.client.aclose()


async def hook(services: Services, owner: str, url: str, *events: WebhookEvent) -> Webhook:
    return await endpoints.create(services, owner, url, events, "http://api.example")


async def test_an_ending_owes_its_owners_listening_endpoints(
    services: Services, receiver: Receiver
) -> None:
    owner, stranger = await new_owner(services), await new_owner(services)
    url = receiver.url + "/unused"
    succeeded = await hook(services, owner, url, WebhookEvent.JOB_SUCCEEDED)
    failed_only = await hook(services, owner, url, WebhookEvent.JOB_FAILED)
    disabled = await hook(services, owner, url, WebhookEvent.JOB_SUCCEEDED)
    async with services.sessions() as session:
        await session.execute(
            update(Webhook).where(col(Webhook.id) == disabled.id).values(disabled_at=utcnow())
        )
        await session.commit()
    others = await hook(services, stranger, url, WebhookEvent.JOB_SUCCEEDED)
    job = await processing_job(services, owner)
    assert await transitions.succeed(services, job.id, 1, stored("results/x.png"))
    [delivery] = await owed(services, succeeded.id)
    assert (delivery.event, delivery.job["id"], delivery.attempt) == ("JOB_SUCCEEDED", job.id, 1)
    for silent in (failed_only, disabled, others):
        assert await owed(services, silent.id) == []


async def test_retries_stop_when_the_schedule_runs_out(
    services: Services, receiver: Receiver
) -> None:
    owner = await new_owner(services)
    receiver.failures["/down"] = 99
    webhook = await hook(services, owner, receiver.url + "/down", WebhookEvent.JOB_FAILED)
    job = await processing_job(services, owner)
    await transitions.fail(services, job.id, 1, ImgflowError(ErrorCode.CORRUPT_IMAGE, "broken"))
    await drain(services)
    tries = receiver.posted("/down")
    assert len(tries) == 2, "the first try and the schedule's one retry"
    assert len({t.headers["webhook-id"] for t in tries}) == 1
    page = await deliveries.page(services, owner, webhook.id, 10, None)
    assert [(d.attempt, d.status_code) for d in page.deliveries] == [(2, 500), (1, 500)]
    assert page.deliveries[0].next_attempt_at is None  # nothing more owed
    assert page.deliveries[1].next_attempt_at is not None
    assert await owed(services, webhook.id) == []


async def test_an_endpoint_failing_too_long_is_disabled_until_redelivered(
    services: Services, receiver: Receiver
) -> None:
    owner = await new_owner(services)
    receiver.failures["/broken"] = 1
    webhook = await hook(services, owner, receiver.url + "/broken", WebhookEvent.JOB_SUCCEEDED)
    long_ago = utcnow() - timedelta(hours=services.settings.webhook_disable_after_hours + 1)
    async with services.sessions() as session:
        await session.execute(
            update(Webhook).where(col(Webhook.id) == webhook.id).values(failing_since=long_ago)
        )
        await session.commit()
    job = await processing_job(services, owner)
    await transitions.succeed(services, job.id, 1, stored("results/x.png"))
    await drain(services)
    assert len(receiver.posted("/broken")) == 1, "disabled at once: the retry is not sent"
    disabled = await endpoints.get(services, owner, webhook.id)
    assert disabled.disabled_at is not None
    assert len(await owed(services, webhook.id)) == 1  # kept, not sent
    # A new ending owes nothing to a disabled endpoint.
    later = await processing_job(services, owner)
    await transitions.succeed(services, later.id, 1, stored("results/y.png"))
    assert len(await owed(services, webhook.id)) == 1

    first = (await deliveries.page(services, owner, webhook.id, 10, None)).deliveries[-1]
    again = await deliveries.redeliver(services, owner, first.id)
    assert again.message_id == first.message_id
    await drain(services)
    enabled = await endpoints.get(services, owner, webhook.id)
    assert (enabled.disabled_at, enabled.failing_since) == (None, None)
    # Sent again and answered: the redelivery and the kept retry, both of the first
    # message (the second ending owed nothing).
    tries = receiver.posted("/broken")
    assert len(tries) == 3
    assert {t.headers["webhook-id"] for t in tries} == {first.message_id}
    assert await owed(services, webhook.id) == []
