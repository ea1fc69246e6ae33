"""Webhook endpoints: create (checked by the SSRF guard, a new signing secret), list,
delete. Each user may have IMGFLOW_MAX_WEBHOOKS_PER_USER of them."""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Sequence

from sqlalchemy import delete, func
from sqlmodel import col, select

from imgflow.domain import WebhookEvent
from imgflow.errors import ErrorCode, ImgflowError
from imgflow.models import URL_MAX, Webhook, WebhookDelivery
from imgflow.outbound.guard import Guard, OutboundRefused, split_url
from imgflow.services import Services

log = logging.getLogger(__name__)
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def not_found(webhook_id: str) -> ImgflowError:
    return ImgflowError(ErrorCode.NOT_FOUND, f"no webhook with id {webhook_id!r}")


async def check_url(services: Services, url: str) -> None:
    """Refuse a URL the guard would refuse at delivery time: better now than never
    delivered. The name is resolved here; every delivery resolves and checks again."""
    if not 1 <= len(url) <= URL_MAX:
        raise ImgflowError(ErrorCode.BAD_USER_INPUT, f"url must be 1 to {URL_MAX} characters")
    try:
        split_url(url)
    except OutboundRefused as exc:
        raise ImgflowError(ErrorCode.BAD_USER_INPUT, f"url: {exc}") from None
    guard = Guard.from_setting(services.settings.outbound_allow)
    try:
        await guard.resolve(url)
    except OutboundRefused as exc:
        raise ImgflowError(ErrorCode.FETCH_REFUSED, f"this url is not allowed: {exc}") from None
    except OSError as exc:
        raise ImgflowError(ErrorCode.BAD_USER_INPUT, f"this url cannot be reached: {exc}") from None


async def create(
    services: Services,
    owner_id: str,
    url: str,
    events: Sequence[WebhookEvent],
    links_base_url: str,
) -> Webhook:
    if not events:
        raise ImgflowError(ErrorCode.BAD_USER_INPUT, "events must name at least one event")
    await check_url(services, url)
    limit = services.settings.max_webhooks_per_user
    count = select(func.count()).select_from(Webhook).where(col(Webhook.owner_id) == owner_id)
    async with services.sessions() as session:
        if (await session.exec(count)).one() >= limit:
            raise ImgflowError(
                ErrorCode.TOO_MANY_WEBHOOKS,
                f"you have {limit} webhooks, the most allowed: delete one first",
            )
        webhook = Webhook(
            owner_id=owner_id,
            url=url,
            events=sorted({event.value for event in events}),
            secret=new_secret(),
            links_base_url=links_base_url[:URL_MAX],
        )
        session.add(webhook)
        await session.commit()
    log.info("webhook created", extra={"webhook_id": webhook.id})
    return webhook


async def list_for(services: Services, owner_id: str) -> list[Webhook]:
    query = (
        select(Webhook)
        .where(col(Webhook.owner_id) == owner_id)
        .order_by(col(Webhook.created_at), col(Webhook.id))
    )
    async with services.sessions() as session:
        return list((await session.exec(query)).all())


async def get(services: Services, owner_id: str, webhook_id: str) -> Webhook:
    """The caller's webhook; another user's answers exactly like a missing one."""
    async with services.sessions() as session:
        webhook = await session.get(Webhook, webhook_id)
    if webhook is None or webhook.owner_id != owner_id:
        raise not_found(webhook_id)
    return webhook


async def remove(services: Services, owner_id: str, webhook_id: str) -> Webhook:
    """Delete the endpoint and its deliveries, owed ones too (nothing more is sent)."""
    webhook = await get(services, owner_id, webhook_id)
    async with services.sessions() as session:
        await session.execute(
            delete(WebhookDelivery).where(col(WebhookDelivery.webhook_id) == webhook_id)
        )
        await session.execute(delete(Webhook).where(col(Webhook.id) == webhook_id))
        await session.commit()
    log.info("webhook deleted", extra={"webhook_id": webhook_id})
    return webhook
