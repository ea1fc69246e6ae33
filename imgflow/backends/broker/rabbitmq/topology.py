"""The RabbitMQ topology: exchanges, quorum queues, dead-lettering and delay tiers.

Topology for a namespace `ns`, everything durable:

- `ns.jobs`, a direct exchange. Publishers send here with routing key = the AMQP queue
  name (`ns.rotate`, ...). A named exchange rather than the default one so that a delay
  queue (retries) can dead-letter back into it by routing key, and so that a missing
  binding makes a mandatory publish fail instead of dropping the message.
- `ns.<queue>`, one quorum queue per QueueName, bound to `ns.jobs` under its own name,
  dead-lettering to `ns.dlx`.
- `ns.dlx`, a direct exchange, and `ns.dead`, a quorum queue bound to it under every
  work queue's routing key. A dead message keeps the routing key of the queue it came
  from, so re-driving it is a publish of the same body to `ns.jobs` under that key.
  Malformed messages and jobs that ran out of attempts (`DeadLetter`) end here.
- Delayed retries (`Retry`): `ns.retry`, a headers exchange, and one quorum queue per
  delay tier, `ns.retry.1s`, `ns.retry.5s`, `ns.retry.30s`, `ns.retry.120s`. Nobody
  consumes them: each has a fixed `x-message-ttl` and dead-letters expired messages to
  `ns.jobs`, where the routing key they were published with (the work queue's name)
  takes them back to their work queue. A retry is published to `ns.retry` with that
  routing key and an `imgflow-delay: <tier>` header selecting the tier queue.

  Why fixed tiers and not one queue with a per-message `expiration`: RabbitMQ expires
  messages only at the head of a queue, so a 120 s retry would hold back every 1 s
  retry behind it. In a queue where every message has the same TTL, FIFO order is
  expiry order: nothing waits longer than its tier. The cost is precision: a requested
  delay is rounded to the nearest tier on a log scale (0-2.2 s -> 1 s, ..., above
  ~60 s -> 120 s), which is fine for backoff whose jitter is random anyway. The header
  has no `x-` prefix because a headers exchange ignores `x-` headers when matching.

Queue arguments are fixed once a queue exists (a redeclare with other arguments fails
with PRECONDITION_FAILED): limits added later (delivery limit, overflow) belong in a
policy, or in new queue names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from aio_pika import ExchangeType
from aio_pika.abc import AbstractExchange, AbstractQueue, AbstractRobustChannel

from imgflow.domain import QueueName

QUORUM = {"x-queue-type": "quorum"}
DELAY_TIERS_SECONDS = (1, 5, 30, 120)
"""The delay queues' TTLs; a requested delay is rounded to the nearest (see above)."""
DELAY_HEADER = "imgflow-delay"
"""Selects the delay tier queue in the `ns.retry` headers exchange."""


def delay_tier(seconds: float) -> int:
    """The tier nearest to `seconds` on a log scale: retry delays are multiplicative."""
    wanted = max(seconds, 0.001)
    return min(DELAY_TIERS_SECONDS, key=lambda tier: abs(math.log(wanted / tier)))


@dataclass(frozen=True)
class Topology:
    """The AMQP names of one namespace."""

    namespace: str

    @property
    def jobs_exchange(self) -> str:
        return f"{self.namespace}.jobs"

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.namespace}.dlx"

    @property
    def dead_queue(self) -> str:
        return f"{self.namespace}.dead"

    def queue(self, queue: QueueName) -> str:
        """The AMQP queue name, which is also its routing key in both exchanges."""
        return f"{self.namespace}.{queue.value.lower()}"

    def work_queue_arguments(self) -> dict[str, Any]:
        return {**QUORUM, "x-dead-letter-exchange": self.dead_letter_exchange}

    @property
    def retry_exchange(self) -> str:
        return f"{self.namespace}.retry"

    def retry_queue(self, tier: int) -> str:
        return f"{self.namespace}.retry.{tier}s"

    def retry_queue_arguments(self, tier: int) -> dict[str, Any]:
        return {
            **QUORUM,
            "x-message-ttl": tier * 1000,
            # Default (at-most-once) dead-lettering: a message lost in the move back (the
            # node dying at that instant) leaves its job QUEUED in the database, and
            # housekeeping re-publishes it after IMGFLOW_LEASE_SECONDS. at-least-once
            # would close that window at the price of a DLX worker process per queue, a
            # part of RabbitMQ that saw several fixes after 3.10 (the version used here).
            "x-dead-letter-exchange": self.jobs_exchange,
        }


@dataclass(frozen=True)
class Exchanges:
    jobs: AbstractExchange
    retry: AbstractExchange


async def declare_topology(channel: AbstractRobustChannel, names: Topology) -> Exchanges:
    """Declare exchanges, queues and bindings (idempotent)."""
    jobs = await channel.declare_exchange(names.jobs_exchange, ExchangeType.DIRECT, durable=True)
    dlx = await channel.declare_exchange(
        names.dead_letter_exchange, ExchangeType.DIRECT, durable=True
    )
    dead = await channel.declare_queue(names.dead_queue, durable=True, arguments=QUORUM)
    for queue in QueueName:
        work_queue = await declare_work_queue(channel, names, queue)
        await work_queue.bind(jobs, routing_key=work_queue.name)
        await dead.bind(dlx, routing_key=work_queue.name)
    return Exchanges(jobs, await declare_delay_queues(channel, names))


async def declare_delay_queues(channel: AbstractRobustChannel, names: Topology) -> AbstractExchange:
    """The retry exchange and its tier queues (added after the first release: new names
    only, so existing deployments just gain them); returns the exchange."""
    retry = await channel.declare_exchange(names.retry_exchange, ExchangeType.HEADERS, durable=True)
    for tier in DELAY_TIERS_SECONDS:
        tier_queue = await channel.declare_queue(
            names.retry_queue(tier), durable=True, arguments=names.retry_queue_arguments(tier)
        )
        await tier_queue.bind(retry, arguments={"x-match": "all", DELAY_HEADER: f"{tier}s"})
    return retry


async def declare_work_queue(
    channel: AbstractRobustChannel, names: Topology, queue: QueueName
) -> AbstractQueue:
    return await channel.declare_queue(
        names.queue(queue), durable=True, arguments=names.work_queue_arguments()
    )
