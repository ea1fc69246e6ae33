"""Redis pub/sub: one listener connection per process fans out to every local subscriber.

A Redis subscription holds a whole connection, so subscribers never get their own: one
`PubSub` is shared, a background task reads it and copies each event into the queue of
every local subscriber of that channel. Channels are reference-counted: the first local
subscriber SUBSCRIBEs, the last one leaving UNSUBSCRIBEs.

If the listener connection drops, every local subscription ends with
`EventsUnavailable` (events published meanwhile are lost, so a subscriber must re-read
the database: the row is the truth) and the task reconnects with backoff; subscribing
again works once it is back.

The rooms: `backend` (`RedisEvents`, the face `open_events` returns), `listener` (the
shared connection, its reconnects and SUBSCRIBE/UNSUBSCRIBE) and `fanout` (local
subscriber queues and the confirmations they wait on).
"""

from imgflow.backends.events.redis.backend import RedisEvents

__all__ = ["RedisEvents"]
