"""A webhook's deliveries as its owner sees them: every attempt, newest first, and
`redeliver`, which owes one more attempt of a message now."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, or_, update
from sqlmodel import col, select

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.jobs import cursors
from imgflow.models import Webhook, WebhookDelivery, utcnow
from imgflow.services import Services
from imgflow.webhooks import endpoints


@dataclass(frozen=True)
class DeliveryPage:
    deliveries: list[WebhookDelivery]
    has_next_page: bool


async def count_pending(services: Services) -> int:
    """Deliveries not yet accepted that will be tried again: owed or awaiting a retry."""
    query = select(func.count()).where(col(WebhookDelivery.next_attempt_at).is_not(None))
    async with services.sessions() as session:
        return int((await session.exec(query)).one())


async def page(
    services: Services, owner_id: str, webhook_id: str, first: int, after: str | None
) -> DeliveryPage:
    """Newest first, keyset-paginated on (created_at, id) like `jobs`."""
    await endpoints.get(services, owner_id, webhook_id)
    query = select(WebhookDelivery).where(col(WebhookDelivery.webhook_id) == webhook_id)
    if after is not None:
        created_at, delivery_id = cursors.decode(after)
        query = query.where(
            or_(
                col(WebhookDelivery.created_at) < created_at,
                and_(
                    col(WebhookDelivery.created_at) == created_at,
                    col(WebhookDelivery.id) < delivery_id,
                ),
            )
        )
    query = query.order_by(
        col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id).desc()
    ).limit(first + 1)
    async with services.sessions() as session:
        rows = list((await session.exec(query)).all())
    return DeliveryPage(rows[:first], has_next_page=len(rows) > first)


async def redeliver(services: Services, owner_id: str, delivery_id: str) -> WebhookDelivery:
    """Owe the message of `delivery_id` once more, due now (same `webhook-id`, so a
    receiver that keeps ids can tell). A disabled endpoint is enabled again: asking for
    a redelivery says it has been fixed."""
    async with services.sessions() as session:
        delivery = await session.get(WebhookDelivery, delivery_id)
        webhook = await session.get(Webhook, delivery.webhook_id) if delivery else None
        if delivery is None or webhook is None or webhook.owner_id != owner_id:
            raise ImgflowError(ErrorCode.NOT_FOUND, f"no webhook delivery with id {delivery_id!r}")
        now = utcnow()
        again = WebhookDelivery(
            webhook_id=delivery.webhook_id,
            message_id=delivery.message_id,
            event=delivery.event,
            job=delivery.job,
            created_at=now,
            next_attempt_at=now,
        )
        session.add(again)
        await session.execute(
            update(Webhook)
            .where(col(Webhook.id) == webhook.id)
            .values(disabled_at=None, failing_since=None)
        )
        await session.commit()
    return again
