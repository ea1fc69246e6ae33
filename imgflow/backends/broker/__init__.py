"""Job distribution, chosen by URL (`memory://` or `amqp://`).

A message carries only a job id; the database row is the truth. Delivery is at least
once. What a handler's outcome does to its message, on every backend:

- returns: acked, gone;
- raises `Retry(delay)`: acked, and the same job id offered again after about `delay`
  seconds (RabbitMQ: through a delay queue, so the message survives a restart);
- raises `DeadLetter(reason)`: removed from the work queue and kept aside for operators
  (RabbitMQ: rejected into `<namespace>.dead`; memory: `MemoryBroker.dead`);
- raises anything else: requeued after a short pause (a bug or an outage the handler
  did not classify; redelivery is the safe default).
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


class Retry(Exception):
    """Raised by a handler: settle this delivery, offer the message again later.

    Backends may round the delay (RabbitMQ uses a few fixed delay tiers)."""

    def __init__(self, delay_seconds: float) -> None:
        super().__init__(f"retry in {delay_seconds:.2f} s")
        self.delay_seconds = max(0.0, delay_seconds)


class DeadLetter(Exception):
    """Raised by a handler: never deliver this message again; keep it for operators."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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

    async def depth(self, queue: QueueName) -> int:
        """Messages waiting in `queue` (not those delivered and not yet settled)."""
        ...

    async def ping(self) -> None: ...
    async def close(self) -> None: ...


def open_broker(url: str, *, namespace: str) -> Broker:
    """The broker for `url`; `namespace` prefixes queue and exchange names."""
    scheme = urlparse(url).scheme
    if scheme == "memory":
        from imgflow.backends.broker.memory import MemoryBroker

        return MemoryBroker()
    if scheme in ("amqp", "amqps"):
        from imgflow.backends.broker.rabbitmq import RabbitBroker

        return RabbitBroker(url, namespace=namespace)
    raise ValueError(f"unsupported broker URL {url!r}: use memory:// or amqp://...")
