"""GraphQL types of webhooks: endpoints and their deliveries."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gql.types import PageInfo
from imgflow import models
from imgflow.domain import WebhookEvent
from imgflow.jobs import cursors

strawberry.enum(WebhookEvent, description="A job ending a webhook endpoint can be told of.")


@strawberry.type(
    description="An endpoint called, signed per the Standard Webhooks spec, when your jobs "
    "end. Deliveries are retried per the server's schedule; an endpoint failing for days "
    "is disabled (`disabledAt`)."
)
class Webhook:
    id: strawberry.ID
    url: str
    events: list[WebhookEvent]
    secret: str | None = strawberry.field(
        description="The signing secret (`whsec_...`), shown once: in createWebhook's "
        "answer only, null afterwards."
    )
    created_at: datetime
    disabled_at: datetime | None = strawberry.field(
        description="When deliveries stopped because the endpoint kept failing; "
        "redeliverWebhook enables it again."
    )

    @classmethod
    def from_row(cls, row: models.Webhook, *, with_secret: bool = False) -> Webhook:
        return cls(
            id=strawberry.ID(row.id),
            url=row.url,
            events=[WebhookEvent(event) for event in row.events],
            secret=row.secret if with_secret else None,
            created_at=row.created_at,
            disabled_at=row.disabled_at,
        )


@strawberry.type(
    description="One attempt to deliver one event; one not yet made has no `attemptedAt`."
)
class WebhookDelivery:
    id: strawberry.ID
    event: WebhookEvent
    status_code: int | None = strawberry.field(description="The receiver's HTTP status.")
    duration_ms: int | None
    error: str | None = strawberry.field(
        description="Why the attempt failed (status, timeout, connection, refused address)."
    )
    attempted_at: datetime | None
    next_attempt_at: datetime | None = strawberry.field(
        description="Not attempted yet: when it is due. Failed: when the retry is due, "
        "null when none is left."
    )

    @classmethod
    def from_row(cls, row: models.WebhookDelivery) -> WebhookDelivery:
        return cls(
            id=strawberry.ID(row.id),
            event=WebhookEvent(row.event),
            status_code=row.status_code,
            duration_ms=row.duration_ms,
            error=row.error,
            attempted_at=row.attempted_at,
            next_attempt_at=row.next_attempt_at,
        )


@strawberry.type
class WebhookDeliveryEdge:
    cursor: str
    node: WebhookDelivery


@strawberry.type(description="A page of a webhook's delivery attempts, newest first.")
class WebhookDeliveryConnection:
    edges: list[WebhookDeliveryEdge]
    page_info: PageInfo

    @classmethod
    def from_rows(
        cls, rows: list[models.WebhookDelivery], has_next_page: bool
    ) -> WebhookDeliveryConnection:
        edges = [
            WebhookDeliveryEdge(
                cursor=cursors.encode(r.created_at, r.id), node=WebhookDelivery.from_row(r)
            )
            for r in rows
        ]
        end = edges[-1].cursor if edges else None
        return cls(edges=edges, page_info=PageInfo(has_next_page=has_next_page, end_cursor=end))
