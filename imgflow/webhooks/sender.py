"""The webhook sender: takes owed deliveries that are due, sends them through the SSRF
guard with a short total timeout and a capped read, records each attempt, and owes
the next one per IMGFLOW_WEBHOOK_RETRY_SCHEDULE after a failure. It runs apart from
image work (a task of `imgflow serve`, and of `imgflow cron`), so a slow or hostile
receiver costs a sender slot, never a worker's.

At least once: a delivery is taken under a lease (a guarded UPDATE), so several senders
share the outbox; one that dies mid-send leaves it to be taken again once the lease
runs out. A receiver may therefore see a message twice (same `webhook-id`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import Update, case, func, literal, or_, update
from sqlmodel import col, select
from standardwebhooks.webhooks import Webhook as Signer

from imgflow.models import UTCDateTime, Webhook, WebhookDelivery, utcnow
from imgflow.outbound.client import guarded_client, post
from imgflow.outbound.guard import Guard, OutboundRefused
from imgflow.services import Services
from imgflow.webhooks import payload

log = logging.getLogger(__name__)
SLOTS = 16
"""Deliveries in flight per sender: a few silent receivers cannot stall the rest."""
POLL_SECONDS = 1.0
LEASE_MARGIN_SECONDS = 5.0
ERROR_MAX = 500
CONNECT_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    duration_ms: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.error is None


class Sender:
    def __init__(self, services: Services) -> None:
        self.services = services
        settings = services.settings
        self.timeout = settings.webhook_timeout_seconds
        self.client = guarded_client(
            Guard.from_setting(settings.outbound_allow),
            connect_timeout=min(CONNECT_TIMEOUT_SECONDS, self.timeout),
            read_timeout=self.timeout,
        )
        self.slots = asyncio.Semaphore(SLOTS)
        self.sending: set[asyncio.Task[None]] = set()

    async def run_forever(self) -> None:
        try:
            while True:
                try:
                    await self.send_due()
                except Exception:
                    log.exception("webhook sender pass failed")
                await asyncio.sleep(POLL_SECONDS)
        finally:
            for task in self.sending:
                task.cancel()
            await asyncio.gather(*self.sending, return_exceptions=True)
            await self.client.aclose()

    async def send_due(self) -> int:
        """Take what is due, up to the free slots, and start sending it."""
        free = SLOTS - len(self.sending)
        taken = await take_due(self.services, free, self.timeout + LEASE_MARGIN_SECONDS)
        for delivery in taken:
            task = asyncio.create_task(self.deliver(delivery))
            self.sending.add(task)
            task.add_done_callback(self.sending.discard)
        return len(taken)

    async def deliver(self, delivery: WebhookDelivery) -> None:
        async with self.slots:
            try:
                async with self.services.sessions() as session:
                    webhook = await session.get(Webhook, delivery.webhook_id)
                if webhook is None:
                    return  # deleted meanwhile, its deliveries with it
                outcome = await self.attempt(webhook, delivery)
                await record(self.services, webhook, delivery, outcome)
            except Exception:
                log.exception("webhook delivery failed", extra={"delivery_id": delivery.id})

    async def attempt(self, webhook: Webhook, delivery: WebhookDelivery) -> Outcome:
        body = await payload.body(self.services, delivery, webhook.links_base_url)
        now = utcnow()
        headers = {
            "content-type": "application/json",
            "user-agent": "imgflow-webhooks",
            "webhook-id": delivery.message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Signer(webhook.secret).sign(delivery.message_id, now, body),
        }
        started = time.monotonic()
        try:
            answer = await post(self.client, webhook.url, body, headers, self.timeout)
        except OutboundRefused as exc:
            return Outcome(None, None, f"refused by the SSRF guard: {exc}")
        except TimeoutError:
            return Outcome(None, elapsed_ms(started), f"no answer within {self.timeout:g} s")
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            return Outcome(None, elapsed_ms(started), f"{type(exc).__name__}: {exc}")
        error = None if 200 <= answer.status_code < 300 else f"answered {answer.status_code}"
        return Outcome(answer.status_code, answer.duration_ms, error)


def elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


async def take_due(services: Services, most: int, lease_seconds: float) -> list[WebhookDelivery]:
    """Owed deliveries due now, each taken under a lease by a guarded UPDATE (another
    sender may take the same rows: each goes to one)."""
    if most <= 0:
        return []
    now = utcnow()
    free = or_(col(WebhookDelivery.lease_until).is_(None), col(WebhookDelivery.lease_until) < now)
    due = (
        select(WebhookDelivery)
        .join(Webhook, col(Webhook.id) == col(WebhookDelivery.webhook_id))
        .where(
            col(WebhookDelivery.attempted_at).is_(None),
            col(WebhookDelivery.next_attempt_at) <= now,
            col(Webhook.disabled_at).is_(None),
            free,
        )
        .order_by(col(WebhookDelivery.next_attempt_at))
        .limit(most)
    )
    lease = now + timedelta(seconds=lease_seconds)
    taken = []
    async with services.sessions() as session:
        for delivery in list((await session.exec(due)).all()):
            claim = (
                update(WebhookDelivery)
                .where(col(WebhookDelivery.id) == delivery.id, free)
                .values(lease_until=lease)
            )
            if (await session.execute(claim)).rowcount:  # type: ignore[attr-defined]
                taken.append(delivery)
            await session.commit()
    return taken


def retry_at(services: Services, attempt: int, now: datetime) -> datetime | None:
    """When attempt `attempt + 1` is due after attempt `attempt` failed; None: no more."""
    schedule = services.settings.webhook_retry_schedule
    if attempt > len(schedule):
        return None
    return now + timedelta(seconds=schedule[attempt - 1])


async def record(
    services: Services, webhook: Webhook, delivery: WebhookDelivery, outcome: Outcome
) -> None:
    """The attempt, the next one owed after a failure, and the endpoint's health, in one
    transaction; nothing if another sender recorded this attempt first."""
    now = utcnow()
    later = None if outcome.delivered else retry_at(services, delivery.attempt, now)
    mark = (
        update(WebhookDelivery)
        .where(col(WebhookDelivery.id) == delivery.id, col(WebhookDelivery.attempted_at).is_(None))
        .values(
            attempted_at=now,
            status_code=outcome.status_code,
            duration_ms=outcome.duration_ms,
            error=outcome.error[:ERROR_MAX] if outcome.error else None,
            next_attempt_at=later,
            lease_until=None,
        )
    )
    async with services.sessions() as session:
        if not (await session.execute(mark)).rowcount:  # type: ignore[attr-defined]
            return
        if later is not None:
            session.add(next_attempt(delivery, later, now))
        await session.execute(health(services, webhook, outcome, now))
        await session.commit()
    services.metrics.webhook_attempt(outcome.delivered)
    extra = {"webhook_id": webhook.id, "delivery_id": delivery.id, "attempt": delivery.attempt}
    if outcome.delivered:
        log.info("webhook delivered", extra=extra)
    else:
        log.warning("webhook delivery failed: %s", outcome.error, extra=extra)


def next_attempt(delivery: WebhookDelivery, due: datetime, now: datetime) -> WebhookDelivery:
    return WebhookDelivery(
        webhook_id=delivery.webhook_id,
        message_id=delivery.message_id,
        event=delivery.event,
        job=delivery.job,
        attempt=delivery.attempt + 1,
        created_at=now,
        next_attempt_at=due,
    )


def health(services: Services, webhook: Webhook, outcome: Outcome, now: datetime) -> Update:
    """A success clears the endpoint's failing streak; a failure starts one (if none is
    running), and one running since IMGFLOW_WEBHOOK_DISABLE_AFTER_HOURS ago disables
    the endpoint. Decided in SQL: concurrent deliveries to one endpoint see one streak."""
    row = update(Webhook).where(col(Webhook.id) == webhook.id)
    if outcome.delivered:
        return row.values(failing_since=None)
    cutoff = now - timedelta(hours=services.settings.webhook_disable_after_hours)
    stamp = literal(now, UTCDateTime())
    since = col(Webhook.failing_since)
    return row.values(
        failing_since=func.coalesce(since, stamp),
        disabled_at=case(
            (since <= cutoff, func.coalesce(col(Webhook.disabled_at), stamp)),
            else_=col(Webhook.disabled_at),
        ),
    )
