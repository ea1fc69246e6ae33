"""The backend mixes every API and end-to-end test runs on.

- `embedded`: SQLite, local files, in-process queue and events (nothing to set).
- `services`: PostgreSQL, RabbitMQ, Redis and S3 (moto in server mode), each with a
  name of its own for this test run (a database, a queue/channel namespace, a bucket),
  so runs cannot collide. When a service is missing the mix fails under CI=true and
  is skipped with a message otherwise.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import aio_pika
import asyncpg
import boto3

from imgflow.backends.broker.rabbitmq import DELAY_TIERS_SECONDS, Topology
from imgflow.domain import QueueName
from tests.integration.moto import start_moto
from tests.integration.services import require_service

POSTGRES_ADMIN_URL = os.environ.get(
    "IMGFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
AMQP_URL = os.environ.get("IMGFLOW_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("IMGFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET = "test-secret-" + "x" * 40


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def _check_postgres() -> None:
    asyncio.run(_admin("SELECT 1"))


def _check_amqp() -> None:
    import socket
    from urllib.parse import urlparse

    url = urlparse(AMQP_URL)
    socket.create_connection((url.hostname or "127.0.0.1", url.port or 5672), timeout=3).close()


def _check_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL, socket_timeout=3).ping()


@contextmanager
def postgres_database() -> Iterator[str]:
    """A database of its own for this run, dropped afterwards; yields its asyncpg URL."""
    name = f"imgflow_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def services_env_checks() -> None:
    """Skip (or fail under CI=true) unless PostgreSQL, RabbitMQ and Redis answer."""
    require_service("PostgreSQL", _check_postgres)
    require_service("RabbitMQ", _check_amqp)
    require_service("Redis", _check_redis)


@contextmanager
def services_env() -> Iterator[dict[str, str]]:
    """IMGFLOW_* settings pointing at the real services, fresh names for this run."""
    services_env_checks()
    moto = start_moto()
    try:
        bucket = f"imgflow-test-{uuid.uuid4().hex[:10]}"
        s3 = boto3.client(
            "s3",
            endpoint_url=moto.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(Bucket=bucket)
        with postgres_database() as database_url:
            env = {
                "IMGFLOW_DATABASE_URL": database_url,
                "IMGFLOW_BROKER_URL": AMQP_URL,
                "IMGFLOW_REDIS_URL": REDIS_URL,
                "IMGFLOW_STORAGE_URL": f"s3://{bucket}/run",
                "IMGFLOW_S3_ENDPOINT_URL": moto.endpoint_url,
                "IMGFLOW_NAMESPACE": f"test-{uuid.uuid4().hex[:8]}",
                "IMGFLOW_JWT_SECRET": SECRET,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": "us-east-1",
            }
            remember_namespace(env)
            try:
                yield env
            finally:
                delete_namespaces()
    finally:
        moto.stop()


NAMESPACES: set[str] = set()
"""Broker namespaces the processes of this run used, deleted when the run ends: quorum
queues are heavy, and a shared RabbitMQ must not collect them run after run."""


def remember_namespace(env: dict[str, str]) -> None:
    # Only the shared vhost: a test with a vhost of its own deletes the whole vhost.
    if env.get("IMGFLOW_BROKER_URL") == AMQP_URL:
        NAMESPACES.add(env.get("IMGFLOW_NAMESPACE", "imgflow"))


def delete_namespaces() -> None:
    async def delete() -> None:
        connection = await aio_pika.connect(AMQP_URL, timeout=10)
        try:
            channel = await connection.channel()
            for namespace in sorted(NAMESPACES):
                names = Topology(namespace)
                queues = [names.queue(q) for q in QueueName]
                queues += [names.dead_queue, *(names.retry_queue(t) for t in DELAY_TIERS_SECONDS)]
                for queue in queues:
                    await channel.queue_delete(queue)
                exchanges = (names.jobs_exchange, names.dead_letter_exchange, names.retry_exchange)
                for exchange in exchanges:
                    await channel.exchange_delete(exchange)
        finally:
            await connection.close()

    asyncio.run(delete())
    NAMESPACES.clear()
