"""The slots of one worker process: a job runs only while it holds one.

Each queue has a limit (fixed, or moved by the rebalancer under `auto`) and a cap (its
maximum); all queues together never run more than `total`. A freed slot goes first to a
queue running fewer jobs than its limit, and only when no such queue has a job waiting,
to any queue under its cap: slots are never left idle while work waits in this process,
and a limit decides who goes first, not who may run at all.

A handler waiting for a slot holds its message (unacked), which is why the broker's own
prefetch is set to the queue's cap. When the pool closes (shutdown), those waiting are
cancelled, like a consumer cancels its handlers: their messages go back to the queue.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

from imgflow.domain import QueueName


class SlotPool:
    def __init__(
        self,
        total: int,
        caps: Mapping[QueueName, int],
        limits: Mapping[QueueName, int],
        on_wait: Callable[[], None] = lambda: None,
    ) -> None:
        self.total = total
        self.caps = dict(caps)
        self.limits = dict(limits)
        self.on_wait = on_wait
        """Called when a job has to wait: under `auto`, a reason to rebalance now."""
        self.running: Counter[QueueName] = Counter()
        self.waiters: dict[QueueName, deque[asyncio.Future[None]]] = {q: deque() for q in caps}
        self.closed = False

    def waiting(self, queue: QueueName) -> int:
        return sum(1 for waiter in self.waiters[queue] if not waiter.done())

    @asynccontextmanager
    async def slot(self, queue: QueueName) -> AsyncIterator[None]:
        """Hold one of `queue`'s slots for the duration of the block."""
        await self._acquire(queue)
        try:
            yield
        finally:
            self._release(queue)

    def set_limits(self, limits: Mapping[QueueName, int]) -> None:
        self.limits = dict(limits)
        self._hand_out()

    def close(self) -> None:
        """Grant nothing more; cancel whoever waits (their messages are not started)."""
        self.closed = True
        for waiters in self.waiters.values():
            for waiter in waiters:
                waiter.cancel()
            waiters.clear()

    async def _acquire(self, queue: QueueName) -> None:
        if self.closed:
            raise asyncio.CancelledError("the worker is stopping")
        if not any(self.waiters.values()) and self._may_start(queue, borrow=True):
            self.running[queue] += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters[queue].append(waiter)
        self._hand_out()  # the new arrival may be first in line
        if not waiter.done():
            self.on_wait()
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release(queue)  # granted, then cancelled before it could start
            elif waiter in self.waiters[queue]:
                self.waiters[queue].remove(waiter)
            raise

    def _release(self, queue: QueueName) -> None:
        self.running[queue] -= 1
        self._hand_out()

    def _may_start(self, queue: QueueName, *, borrow: bool) -> bool:
        if sum(self.running.values()) >= self.total:
            return False
        bound = self.caps[queue] if borrow else self.limits.get(queue, 0)
        return self.running[queue] < bound

    def _hand_out(self) -> None:
        """Give free slots to waiters: within limits first, then up to the caps."""
        if self.closed:
            return
        for borrow in (False, True):
            while queue := self._next_queue(borrow=borrow):
                waiter = self.waiters[queue].popleft()
                if waiter.done():
                    continue  # cancelled while waiting
                self.running[queue] += 1
                waiter.set_result(None)

    def _next_queue(self, *, borrow: bool) -> QueueName | None:
        """The queue to serve next: of those waiting that may start, the one furthest
        below its limit."""
        ready = [
            q
            for q, waiters in self.waiters.items()
            if waiters and self._may_start(q, borrow=borrow)
        ]
        if not ready:
            return None
        return max(ready, key=lambda q: (self.limits.get(q, 0) - self.running[q], q.value))
