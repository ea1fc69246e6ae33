"""Webhook resolvers: endpoints and their deliveries, for the signed-in user."""

from __future__ import annotations

import strawberry

from gql.context import Info
from gql.webhooks import Webhook, WebhookDelivery, WebhookDeliveryConnection
from imgflow.domain import WebhookEvent
from imgflow.errors import ErrorCode, ImgflowError
from imgflow.webhooks import deliveries, endpoints
from resolvers.queries import MAX_PAGE


async def create_webhook(info: Info, url: str, events: list[WebhookEvent]) -> Webhook:
    user = await info.context.user()
    row = await endpoints.create(info.context.services, user.id, url, events, info.context.base_url)
    return Webhook.from_row(row, with_secret=True)


async def webhooks(info: Info) -> list[Webhook]:
    user = await info.context.user()
    return [
        Webhook.from_row(row) for row in await endpoints.list_for(info.context.services, user.id)
    ]


async def delete_webhook(info: Info, id: strawberry.ID) -> Webhook:
    user = await info.context.user()
    return Webhook.from_row(await endpoints.remove(info.context.services, user.id, str(id)))


async def webhook_deliveries(
    info: Info, webhook_id: strawberry.ID, first: int | None = 20, after: str | None = None
) -> WebhookDeliveryConnection:
    user = await info.context.user()
    size = 20 if first is None else first
    if not 1 <= size <= MAX_PAGE:
        raise ImgflowError(ErrorCode.BAD_USER_INPUT, f"first must be between 1 and {MAX_PAGE}")
    page = await deliveries.page(info.context.services, user.id, str(webhook_id), size, after)
    return WebhookDeliveryConnection.from_rows(page.deliveries, page.has_next_page)


async def redeliver_webhook(info: Info, delivery_id: strawberry.ID) -> WebhookDelivery:
    user = await info.context.user()
    row = await deliveries.redeliver(info.context.services, user.id, str(delivery_id))
    return WebhookDelivery.from_row(row)
