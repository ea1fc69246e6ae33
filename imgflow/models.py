"""Database tables. The job row is the source of truth for a job's state."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Dialect, Index, String, UniqueConstraint, false
from sqlalchemy import DateTime as SADateTime
from sqlalchemy import Enum as SAEnum
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from imgflow.domain import JobStatus, QueueName

URL_MAX = 2048
IDEMPOTENCY_KEY_MAX = 200
"""Longest idempotency key a client may send (the column's width)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite hands back naive datetimes)."""

    impl = SADateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def _enum(cls: type[JobStatus] | type[QueueName]) -> SAEnum:
    # Stored as plain strings: no native enum type to migrate on PostgreSQL.
    return SAEnum(cls, native_enum=False, length=20, validate_strings=True)


def _utc_column(*, nullable: bool, index: bool = False) -> Any:
    return Field(
        default=None,
        sa_column=Column(UTCDateTime(), nullable=nullable, index=index),
    )


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    email: str = Field(sa_column=Column(String(320), unique=True, nullable=False))
    password_hash: str = Field(max_length=255)
    disabled: bool = Field(default=False)
    is_admin: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    """Operators: system statistics and any user's job (`imgflow create-user --admin`)."""
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class Job(SQLModel, table=True):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_owner_created", "owner_id", "created_at", "id"),
        Index("ix_jobs_status_updated", "status", "updated_at"),
        # NULL keys never collide (SQLite and PostgreSQL alike): jobs without a key are
        # unconstrained, and the race between two submissions with one key has one winner.
        UniqueConstraint("owner_id", "idempotency_key", name="uq_jobs_owner_idempotency_key"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    owner_id: str = Field(foreign_key="users.id", max_length=36)
    status: JobStatus = Field(sa_column=Column(_enum(JobStatus), nullable=False))
    queue: QueueName = Field(sa_column=Column(_enum(QueueName), nullable=False))
    operations: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))

    source_key: str = Field(max_length=512)
    source_format: str | None = Field(default=None, max_length=10)
    source_width: int | None = None
    source_height: int | None = None
    source_frames: int | None = None
    source_bytes: int | None = None

    analyze: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    """Whether the worker also reads the source's analysis (imgflow.imaging.analysis)."""
    analysis: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    """That analysis, once read; stored as soon as the source is decoded."""
    outputs: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    """The job's outputs (imgflow.imaging.outputs), each with its stored image once written;
    NULL on jobs from before outputs existed: one `default` output, the result columns."""
    skipped_widths: list[int] | None = Field(default=None, sa_column=Column(JSON))
    """srcset widths left out because they would upscale the prefix's image."""

    result_key: str | None = Field(default=None, max_length=512)
    result_format: str | None = Field(default=None, max_length=10)
    result_width: int | None = None
    result_height: int | None = None
    result_frames: int | None = None
    result_bytes: int | None = None

    error_code: str | None = Field(default=None, max_length=64)
    error_message: str | None = Field(default=None, max_length=2000)
    attempts: int = Field(default=0)
    idempotency_key: str | None = Field(default=None, max_length=IDEMPOTENCY_KEY_MAX)

    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    started_at: datetime | None = _utc_column(nullable=True)
    finished_at: datetime | None = _utc_column(nullable=True)
    lease_until: datetime | None = _utc_column(nullable=True)
    notified_at: datetime | None = _utc_column(nullable=True)
    """When the completion notification was published (SNS); NULL = not yet, or off."""
    source_url: str | None = Field(default=None, max_length=URL_MAX)
    """Where the worker fetches the source (`submitImageUrl`); NULL for uploads."""


class Webhook(SQLModel, table=True):
    """An endpoint a user wants told when their jobs end (imgflow.webhooks)."""

    __tablename__ = "webhooks"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    owner_id: str = Field(foreign_key="users.id", max_length=36, index=True)
    url: str = Field(max_length=URL_MAX)
    events: list[str] = Field(sa_column=Column(JSON, nullable=False))
    secret: str = Field(max_length=100)
    """`whsec_` + base64 of the signing key (Standard Webhooks' form)."""
    links_base_url: str = Field(max_length=URL_MAX)
    """Where the API was reached when the endpoint was made: the base of the signed
    links in its payloads when IMGFLOW_PUBLIC_URL is unset."""
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    failing_since: datetime | None = _utc_column(nullable=True)
    """First failed attempt since the last success; NULL while deliveries succeed."""
    disabled_at: datetime | None = _utc_column(nullable=True)


class WebhookDelivery(SQLModel, table=True):
    """One attempt to deliver one message; the owed ones (not yet attempted) are the
    outbox, written in the transaction that ended the job."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_listing", "webhook_id", "created_at", "id"),
        Index("ix_webhook_deliveries_due", "attempted_at", "next_attempt_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    webhook_id: str = Field(foreign_key="webhooks.id", max_length=36)
    message_id: str = Field(max_length=40)
    """The `webhook-id` header: one per message, the same on every retry of it."""
    event: str = Field(max_length=20)
    job: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    """The job's row as it ended: the payload is built from it when sent."""
    attempt: int = Field(default=1)
    status_code: int | None = None
    duration_ms: int | None = None
    error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    attempted_at: datetime | None = _utc_column(nullable=True)
    next_attempt_at: datetime | None = _utc_column(nullable=True)
    """Owed: when it is due. Attempted and failed: when the retry is due (NULL: none)."""
    lease_until: datetime | None = _utc_column(nullable=True)
    """A sender holds it until then: another sender takes it over only after."""


PRESET_NAME_MAX = 40


class Preset(SQLModel, table=True):
    """A user's stored job spec, submitted by name (`submitImage(preset: ...)`). Presets
    from the presets file are everyone's and live in no table."""

    __tablename__ = "presets"
    __table_args__ = (UniqueConstraint("owner_id", "name", name="uq_presets_owner_name"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    owner_id: str = Field(foreign_key="users.id", max_length=36, index=True)
    name: str = Field(max_length=PRESET_NAME_MAX)
    spec: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    """The job spec in its JSON form (imgflow.jobs.presets)."""
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
