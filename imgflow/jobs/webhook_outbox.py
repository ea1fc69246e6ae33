"""The webhook outbox: when a job ends, one owed delivery per endpoint of its owner that
listens for that ending, added to the session that ends the job, so the ending and
what it owes commit together (a process dying in between loses neither)."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from imgflow.domain import WebhookEvent
from imgflow.models import Job, Webhook, WebhookDelivery, new_id, utcnow


async def owe_deliveries(session: AsyncSession, job: Job) -> int:
    """Add the deliveries `job`'s ending owes (uncommitted); how many."""
    event = WebhookEvent.for_status(job.status)
    if event is None:
        return 0
    query = select(Webhook).where(
        col(Webhook.owner_id) == job.owner_id, col(Webhook.disabled_at).is_(None)
    )
    listening = [hook for hook in (await session.exec(query)).all() if event.value in hook.events]
    now = utcnow()
    snapshot = job.model_dump(mode="json")
    for hook in listening:
        session.add(
            WebhookDelivery(
                webhook_id=hook.id,
                message_id=f"msg_{new_id()}",
                event=event.value,
                job=snapshot,
                created_at=now,
                next_attempt_at=now,
            )
        )
    return len(listening)
