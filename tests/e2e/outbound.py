"""Helpers of the outbound end-to-end tests (webhooks, images by URL): their settings
and the API calls they make; the fixtures are in tests/e2e/conftest.py."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

from standardwebhooks import Webhook as Verifier

from tests.client import JOB_FIELDS, Client
from tests.receiver import Delivery, Receiver

ROTATE = [{"rotate": {"degrees": 90}}]
MAX_UPLOAD = 200_000
CREATE = """mutation($url: String!, $events: [WebhookEvent!]!) {
  createWebhook(url: $url, events: $events) { id url events secret createdAt disabledAt } }"""
DELIVERIES = """query($id: ID!, $first: Int, $after: String) {
  webhookDeliveries(webhookId: $id, first: $first, after: $after) {
    edges { cursor node { id event statusCode durationMs error attemptedAt nextAttemptAt } }
    pageInfo { hasNextPage endCursor } } }"""
SUBMIT_URL = f"""mutation($url: String!, $ops: [OperationInput!]!) {{
  submitImageUrl(url: $url, operations: $ops) {{ {JOB_FIELDS} sourceUrl }} }}"""


def outbound_env(backend: dict[str, str], receiver: Receiver, *ports: int) -> dict[str, str]:
    allowed = ",".join(f"127.0.0.1:{port}" for port in (receiver.port, *ports))
    return {
        **backend,
        "IMGFLOW_OUTBOUND_ALLOW": allowed,
        "IMGFLOW_WEBHOOK_RETRY_SCHEDULE": "1,1",
        "IMGFLOW_WEBHOOK_TIMEOUT_SECONDS": "2",
        "IMGFLOW_MAX_WEBHOOKS_PER_USER": "3",
        "IMGFLOW_MAX_UPLOAD_BYTES": str(MAX_UPLOAD),
        "IMGFLOW_NAMESPACE": f"hooks-{uuid.uuid4().hex[:8]}",
    }


@contextlib.contextmanager
def own_database(backend: dict[str, str]) -> Iterator[dict[str, str]]:
    """The services mix with a database of its own: the session's server shares the
    services, and its sender (whose guard lets nothing local through) would otherwise
    take these deliveries too."""
    if "IMGFLOW_DATABASE_URL" not in backend:
        yield backend
        return
    from tests.backends import postgres_database

    with postgres_database() as url:
        yield {**backend, "IMGFLOW_DATABASE_URL": url}


def unique_path(name: str) -> str:
    return f"/{name}-{uuid.uuid4().hex[:8]}"


async def create(client: Client, url: str, events: list[str] | None = None) -> dict[str, Any]:
    events = events or ["JOB_SUCCEEDED", "JOB_FAILED", "JOB_CANCELLED"]
    data = await client.execute(CREATE, {"url": url, "events": events})
    return dict(data["createWebhook"])


async def finished(client: Client, job_id: str, within: float = 30) -> dict[str, Any]:
    events = await asyncio.wait_for(client.watch(job_id), within)
    return events[-1]


async def deliveries(client: Client, webhook_id: str, first: int = 20) -> list[dict[str, Any]]:
    data = await client.execute(DELIVERIES, {"id": webhook_id, "first": first})
    return [edge["node"] for edge in data["webhookDeliveries"]["edges"]]


async def attempted(
    client: Client, webhook_id: str, count: int, within: float = 20
) -> list[dict[str, Any]]:
    """The webhook's deliveries once `count` of them have been attempted and recorded
    (the receiver sees a delivery a moment before the sender records its answer)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = await deliveries(client, webhook_id)
        if sum(1 for d in found if d["attemptedAt"]) >= count:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"fewer than {count} attempts recorded: {found}")
        await asyncio.sleep(0.1)


def verified(delivery: Delivery, secret: str) -> dict[str, Any]:
    """The payload, once `standardwebhooks` has checked its signature and timestamp."""
    return dict(Verifier(secret).verify(delivery.body, delivery.headers))


async def wait_for(receiver: Receiver, path: str, count: int, within: float) -> list[Delivery]:
    return await asyncio.to_thread(receiver.wait_for, path, count, within)


async def submit_url(client: Client, url: str) -> dict[str, Any]:
    return dict((await client.execute(SUBMIT_URL, {"url": url, "ops": ROTATE}))["submitImageUrl"])
