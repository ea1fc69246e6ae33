"""RabbitMQ job distribution through aio-pika, on one robust (self-reconnecting) connection.

The rooms: `topology` (exchanges, quorum queues, dead-lettering, delay tiers: the why
of the layout is there), `messages` (the wire format), `broker` (the connection and
confirmed publishes) and `consumer` (prefetch, handler slots, retry, dead-letter).
This package's face is the broker and the names operators and tests see on the server.
"""

from imgflow.backends.broker.rabbitmq.broker import RabbitBroker
from imgflow.backends.broker.rabbitmq.topology import DELAY_TIERS_SECONDS, Topology

__all__ = ["DELAY_TIERS_SECONDS", "RabbitBroker", "Topology"]
