"""Job distribution, chosen by URL (`memory://` or `amqp://`).

A message carries only a job id; the database row is the truth. Delivery is at least
once: a handler that returns acks the message, one that raises has it redelivered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlparse

from imgflow.domain import QueueName


@dataclass(frozen=True)
class Message:
    job_id: str
    redelivered: bool = False


Handler = Callable[[Message], Awaitable[None]]


class Consumer(Protocol):
    async def stop(self, grace_seconds: float) -> None:
        """Take no more messages; wait up to `grace_seconds` for the ones in hand."""
        ...


class Broker(Protocol):
    durable: bool
    """Whether queued messages survive a restart of this process."""

    async def connect(self) -> None:
        """Open connections and declare queues; called once before use."""
        ...

    async def publish(self, queue: QueueName, job_id: str) -> None: ...
    async def consume(self, queue: QueueName, concurrency: int, handler: Handler) -> Consumer:
        """Run `handler` on up to `concurrency` messages of `queue` at once."""
        ...

    async def ping(self) -> None: ...
    async def close(self) -> None: ...


def open_broker(url: str, *, namespace: str) -> Broker:
    """The broker for `url`; `namespace` prefixes queue and exchange names."""
    scheme = urlparse(url).scheme
    if scheme == "memory":
        from imgflow.broker.memory import MemoryBroker

        return MemoryBroker()
    if scheme in ("amqp", "amqps"):
        from imgflow.broker.rabbitmq import RabbitBroker

        return RabbitBroker(url, namespace=namespace)
    raise ValueError(f"unsupported broker URL {url!r}: use memory:// or amqp://...")
