"""Queue consumers: one per queue, each job in a slot of the process, Pillow in a pool.

Slots are fixed per queue (`convert=3,rotate=1`), or, under `auto`, shared by the queues
and moved to where the work waits (workers/rebalance.py).

A message is acked only after the result object and the row are written. A message
for a finished or cancelled job is acked and ignored, so redelivery is harmless; one for
a job another claim holds comes back when that lease could have run out (the holder may
have died). While a job runs its lease is renewed; every write that settles it is
fenced by the attempt that claimed it, so a worker that lost its lease cannot
overwrite the state of the one that took over.

Failures are sorted in two: an ImgflowError is the image's (or the request's) fault and
fails the job at once; anything else is taken as transient (storage, database, network)
and retried with exponential backoff and full jitter until `max_attempts`, then the job
FAILS with PROCESSING_FAILED and its message is dead-lettered for operators.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping

from imgflow.backends.broker import Consumer, DeadLetter, Handler, Message, Retry
from imgflow.backends.storage import ObjectMissing
from imgflow.concurrency import AUTO, Concurrency
from imgflow.domain import QueueName
from imgflow.errors import ErrorCode, ImgflowError
from imgflow.faults import Faults
from imgflow.imaging.analysis import Analysis
from imgflow.imaging.operations import pipeline_from_json
from imgflow.jobs import fetching, sources, transitions
from imgflow.jobs import records as jobs
from imgflow.models import Job
from imgflow.services import Services
from workers.pipeline import AnalysisRequest, Rendered, render_outputs_in
from workers.rebalance import JobCosts, Rebalancer
from workers.slots import SlotPool
from workers.storing import JobOutputs, LeaseLost

log = logging.getLogger(__name__)
REBALANCER_STOP_SECONDS = 1.0

LEASE_MARGIN_SECONDS = 0.5
"""A deferred message comes back this long after the lease it waited for runs out."""
HAND_BACK_TIMEOUT_SECONDS = 5.0


class Worker:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.consumers: list[Consumer] = []
        self.faults = Faults(services.settings.fault_injection)
        self.pool = SlotPool(0, {}, {})
        self.costs = JobCosts()
        self.rebalancing: asyncio.Task[None] | None = None

    async def start(self, concurrency: Concurrency) -> None:
        """Consume every queue with slots: fixed counts, or `auto` (the settings' total
        and ranges, rebalanced as the queues change)."""
        if concurrency == AUTO:
            await self.start_auto()
        else:
            self.pool = SlotPool(sum(concurrency.values()), concurrency, concurrency)
            await self.consume(concurrency)
        log.info(
            "worker consuming",
            extra={"concurrency": {q.value: n for q, n in self.pool.caps.items()}},
        )

    async def start_auto(self) -> None:
        settings = self.services.settings
        total = settings.slot_total
        caps = {q: r.cap(total) for q, r in settings.queue_slots.items()}
        self.pool = SlotPool(total, caps, dict.fromkeys(caps, 0))
        rebalancer = Rebalancer(
            self.services.broker, self.pool, settings.queue_slots, self.costs, self.services.metrics
        )
        self.pool.on_wait = rebalancer.request
        await rebalancer.rebalance()
        # A consumer holds up to its cap of messages: jobs past the queue's current
        # limit wait in the pool for a slot, counted as that queue's waiting work.
        await self.consume(caps)
        self.rebalancing = asyncio.create_task(rebalancer.run_forever(), name="rebalance")

    async def consume(self, counts: Mapping[QueueName, int]) -> None:
        for queue, count in counts.items():
            self.services.metrics.worker_slots(queue, self.pool.limits.get(queue, 0))
            if count > 0:
                consumer = await self.services.broker.consume(
                    queue, count, self.counted_handler(queue)
                )
                self.consumers.append(consumer)

    async def stop(self, grace_seconds: float) -> None:
        # First: jobs not started are not started now (their messages go back). The
        # rebalancer may be mid-way through a broker call that takes its time to give
        # up; nothing may start meanwhile, and the shutdown does not wait for it long.
        self.pool.close()
        if self.rebalancing is not None:
            self.rebalancing.cancel()
            await asyncio.wait({self.rebalancing}, timeout=REBALANCER_STOP_SECONDS)
            self.rebalancing = None
        await asyncio.gather(*(consumer.stop(grace_seconds) for consumer in self.consumers))
        self.consumers = []

    def counted_handler(self, queue: QueueName) -> Handler:
        """`handle`, counted among the queue's busy slots while it runs (however it ends).
        A message names only its job: the queue is known from the consumer it came to."""
        metrics = self.services.metrics

        async def handle(message: Message) -> None:
            async with self.pool.slot(queue):
                with metrics.busy(queue):
                    await self.handle(message)

        return handle

    async def handle(self, message: Message) -> None:
        job = await self.claim(message.job_id)
        if job is None:
            await self.defer_if_held(message.job_id)
            return
        log.info("job started", extra=job_fields(job))
        lease = asyncio.create_task(self.keep_lease(job), name=f"lease-{job.id}")
        started = time.monotonic()
        try:
            await self.attempt(job)
        except asyncio.CancelledError:
            await self.hand_back(job)
            raise
        finally:
            lease.cancel()
            self.costs.record(job.queue, time.monotonic() - started)

    async def claim(self, job_id: str) -> Job | None:
        """Claim the job; a shutdown cancelling us mid-claim cannot leave it claimed by
        nobody (the UPDATE may commit after the cancel): it is then handed back."""
        claiming = asyncio.ensure_future(transitions.claim(self.services, job_id))
        try:
            return await asyncio.shield(claiming)
        except asyncio.CancelledError:
            try:
                async with asyncio.timeout(HAND_BACK_TIMEOUT_SECONDS):
                    job = await claiming
            except Exception:
                job = None  # the claim failed (or hangs): nothing of ours to hand back
            if job is not None:
                await self.hand_back(job)
            raise

    async def attempt(self, job: Job) -> None:
        """Run the job once and settle it: succeeded, failed, or handed back to retry."""
        try:
            await self.process(job)
        except ImgflowError as error:
            await transitions.fail(self.services, job.id, job.attempts, error)
        except LeaseLost:
            log.warning("lease lost mid-job: the job was taken over", extra=job_fields(job))
        except ObjectMissing:
            gone = ImgflowError(ErrorCode.PROCESSING_FAILED, "the source image is gone")
            await transitions.fail(self.services, job.id, job.attempts, gone)
        except Exception as exc:
            await self.retry_or_fail(job, exc)

    async def defer_if_held(self, job_id: str) -> None:
        """A message for a job another claim holds: the holder may be dead (this is its
        message, redelivered after a crash) or alive (a duplicate). Either way the message
        comes back once the lease could have run out; dropping it would leave a dead
        holder's job to housekeeping alone."""
        left = await jobs.lease_left(self.services, job_id)
        if left is None:
            log.debug("nothing to do", extra={"job_id": job_id})
            return
        log.info("job held by another claim; message deferred", extra={"job_id": job_id})
        raise Retry(left + LEASE_MARGIN_SECONDS)

    async def keep_lease(self, job: Job) -> None:
        """Renew the lease while the job runs, so only a dead worker's lease runs out."""
        every = self.services.settings.lease_seconds / 3
        while True:
            await asyncio.sleep(every)
            try:
                if not await transitions.renew_lease(self.services, job.id, job.attempts):
                    log.warning("lease lost: the job was taken over", extra=job_fields(job))
                    return
            except Exception:
                log.warning("could not renew the lease", extra=job_fields(job), exc_info=True)

    async def hand_back(self, job: Job) -> None:
        """Shutdown deadline passed mid-job: back to QUEUED, attempt not counted, so the
        next worker starts it at once instead of waiting for the lease to run out."""
        try:
            async with asyncio.timeout(HAND_BACK_TIMEOUT_SECONDS):
                await transitions.hand_back(self.services, job.id, job.attempts)
            log.info("job handed back at shutdown", extra=job_fields(job))
        except Exception:
            log.warning("could not hand the job back", extra=job_fields(job), exc_info=True)

    async def process(self, job: Job) -> None:
        """Render the outputs no earlier attempt recorded, storing each as it comes, then
        settle the job."""
        services = self.services
        source: bytes | None = None
        if job.source_format is None and job.source_url is not None:
            self.faults.trip("storage_get")
            source, job = await fetching.fetch_source(services, job)  # a URL not fetched yet
        outputs = JobOutputs(services, job, self.faults)
        pending = outputs.pending()
        analysis = self.analysis_wanted(job)

        async def store(made: Rendered | Analysis) -> None:
            if isinstance(made, Analysis):
                await self.store_analysis(job, made)
            else:
                await outputs.store(made)

        if pending or analysis:
            if source is None:
                self.faults.trip("storage_get")
                source = await services.storage.get(job.source_key)
            prefix = pipeline_from_json(job.operations)
            steps = [*prefix, *(step for output in pending for step in output.operations)]
            pictures = await sources.read(services, job.owner_id, steps)
            # Past the job's time limit this raises TIME_LIMIT_EXCEEDED even while Pillow
            # is mid-step: the job fails and this slot takes the next message.
            await render_outputs_in(
                services.image_pool,
                source,
                prefix,
                pending,
                services.settings.image_limits,
                store,
                analysis,
                pictures,
            )
        if await outputs.succeed():
            log.info("job succeeded", extra=job_fields(job))

    def analysis_wanted(self, job: Job) -> AnalysisRequest | None:
        """What the job's analysis may show, when it asked for one not read yet."""
        if not job.analyze or job.analysis is not None:
            return None
        return AnalysisRequest(expose_gps=self.services.settings.expose_gps)

    async def store_analysis(self, job: Job, analysis: Analysis) -> None:
        stored = await transitions.store_analysis(self.services, job.id, job.attempts, analysis)
        if stored is None:
            raise LeaseLost(job.id)

    async def retry_or_fail(self, job: Job, exc: Exception) -> None:
        """Transient trouble: hand the job back for a later try (raises Retry), or, out of
        attempts, fail it and dead-letter its message (raises DeadLetter). Returns only
        when the job is no longer this worker's to settle (cancelled, taken over)."""
        log.warning("job attempt %d failed: %r", job.attempts, exc, extra={"job_id": job.id})
        settings = self.services.settings
        if job.attempts >= settings.max_attempts:
            error = ImgflowError(
                ErrorCode.PROCESSING_FAILED,
                f"gave up after {job.attempts} attempts: {type(exc).__name__}: {exc}",
            )
            if await transitions.fail(self.services, job.id, job.attempts, error) is None:
                return
            raise DeadLetter(error.message) from exc
        if await transitions.release(self.services, job.id, job.attempts) is None:
            return
        delay = backoff_seconds(
            job.attempts, settings.retry_base_seconds, settings.retry_max_seconds
        )
        raise Retry(delay) from exc


def backoff_seconds(
    attempt: int, base: float, cap: float, draw: Callable[[], float] = random.random
) -> float:
    """Exponential backoff with "equal jitter" after the n-th failed attempt: uniform in
    [bound/2, bound], bound = min(cap, base * 2**(n-1)). The random half keeps jobs that
    failed together (one storage outage) from all coming back at the same instant; the
    fixed half guarantees the retries span at least half the sum of the bounds, so a
    short outage cannot use up every attempt by bad luck."""
    bound = min(cap, base * 2.0 ** max(attempt - 1, 0))
    return bound / 2 + draw() * bound / 2


def job_fields(job: Job) -> dict[str, object]:
    """What every worker log line says about its job (JSON logs keep them as fields)."""
    return {"job_id": job.id, "queue": job.queue.value, "attempt": job.attempts}
