"""The wire format: a job id as JSON, and the header that counts its delayed retries."""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

import aio_pika
from aio_pika import DeliveryMode
from aio_pika.abc import AbstractIncomingMessage

from imgflow.backends.broker import Message

RETRIES_HEADER = "imgflow-retries"
"""How many times this job's message has been through a delay queue (for operators, and
so that a retried message reads as `redelivered`)."""


def job_message(job_id: str, headers: dict[str, Any] | None = None) -> aio_pika.Message:
    """A fresh message for `job_id`. Retries build a new one rather than copying the
    delivered message: its `x-death` history would make RabbitMQ see the delay queue ->
    work queue round trip as a dead-letter cycle and drop it on the second pass."""
    return aio_pika.Message(
        json.dumps({"job_id": job_id}).encode(),
        content_type="application/json",
        delivery_mode=DeliveryMode.PERSISTENT,
        # aiormq matches a returned message to its publish by message_id: it must be
        # unique per publish, and one job may be published twice at once.
        message_id=uuid4().hex,
        correlation_id=job_id,
        headers=headers,
    )


def decode(incoming: AbstractIncomingMessage) -> Message | None:
    """The message a handler sees, or None if the body is not `{"job_id": "..."}`."""
    try:
        body = json.loads(incoming.body)
    except ValueError:  # bad JSON or bad UTF-8
        return None
    job_id = body.get("job_id") if isinstance(body, dict) else None
    if not isinstance(job_id, str) or not job_id:
        return None
    return Message(job_id, redelivered=bool(incoming.redelivered) or retries_of(incoming) > 0)


def retries_of(incoming: AbstractIncomingMessage) -> int:
    count = (incoming.headers or {}).get(RETRIES_HEADER)
    return count if isinstance(count, int) else 0
