"""At-least-once delivery: a message delivered again for a finished job changes nothing."""

from __future__ import annotations

import asyncio

import pytest

from imgflow.backends.broker.rabbitmq import RabbitBroker
from imgflow.domain import QueueName
from tests.client import Client
from tests.imaging import quadrants
from tests.imaging import to_bytes as encode


@pytest.mark.parametrize("backend", ["services"], indirect=True)
async def test_duplicate_message_for_a_finished_job_is_a_no_op(
    backend: dict[str, str], client: Client
) -> None:
    job = await client.submit(encode(quadrants(), "PNG"), [{"rotate": {"degrees": 90}}])
    before = (await client.watch(job["id"]))[-1]
    assert before["status"] == "SUCCEEDED"

    broker = RabbitBroker(backend["IMGFLOW_BROKER_URL"], namespace=backend["IMGFLOW_NAMESPACE"])
    await broker.connect()
    try:
        for _ in range(3):
            await broker.publish(QueueName.ROTATE, job["id"])
        while await broker.depth(QueueName.ROTATE):
            await asyncio.sleep(0.05)
    finally:
        await broker.close()
    await asyncio.sleep(0.5)

    after = await client.job(job["id"])
    assert after is not None
    assert after["attempts"] == before["attempts"] == 1
    assert after["finishedAt"] == before["finishedAt"]
    assert after["result"]["bytes"] == before["result"]["bytes"]
