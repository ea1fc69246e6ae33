"""`imgflow cron`: housekeeping on arq's scheduler, for the multi-process deployment.

Several cron processes may run: arq's `unique` cron jobs take a Redis lock per
scheduled run, and every housekeeping step is a guarded UPDATE anyway.

arq's worker ends at the first Redis connection error; a Redis restart must not end
the process, so `supervise` runs it again with backoff until SIGINT/SIGTERM. The
backends (database, broker, storage) are opened once and outlive those restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from arq.connections import RedisSettings
from arq.cron import cron
from arq.worker import Worker, async_check_health, func
from redis.exceptions import RedisError

from imgflow.backends.notifier import arq_queue_name
from imgflow.jobs import housekeeping
from imgflow.jobs.notifications import PUBLISH_MAX_TRIES, publish_completion
from imgflow.services import Services, open_services
from imgflow.settings import Settings
from imgflow.webhooks.sender import Sender

log = logging.getLogger(__name__)
Ctx = dict[str, Any]
HEALTH_CHECK_SECONDS = 30
"""How often arq's loop renews its health key in Redis (it expires a second later): a
loop stuck for longer fails `imgflow cron --check`, the cron's liveness probe."""
RESTART_MIN_SECONDS = 1.0
RESTART_MAX_SECONDS = 30.0
CLOSE_TIMEOUT_SECONDS = 10.0


def schedule_seconds(interval_seconds: float) -> set[int]:
    """arq schedules by second of the minute: IMGFLOW_HOUSEKEEPING_INTERVAL_SECONDS (1-60)
    as those seconds. The default 30 is {0, 30}."""
    every = max(1, min(60, round(interval_seconds)))
    return set(range(0, 60, every))


async def housekeeping_pass(ctx: Ctx) -> None:
    services: Services = ctx["services"]
    await housekeeping.run_once(
        services, requeue_after_seconds=services.settings.requeue_after_seconds
    )


def build_worker(services: Services) -> Worker:
    settings = services.settings
    if not settings.redis_url:
        raise ValueError("imgflow cron needs IMGFLOW_REDIS_URL (arq keeps its schedule in Redis)")

    async def startup(ctx: Ctx) -> None:
        ctx["services"] = services

    return Worker(
        functions=[func(publish_completion, max_tries=PUBLISH_MAX_TRIES)],
        cron_jobs=[
            cron(
                housekeeping_pass,
                second=schedule_seconds(settings.housekeeping_interval_seconds),
                run_at_startup=True,
                unique=True,
            )
        ],
        queue_name=arq_queue_name(settings.namespace),
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        on_startup=startup,
        handle_signals=False,
        health_check_interval=HEALTH_CHECK_SECONDS,
    )


def check(settings: Settings) -> int:
    """0 if a cron's arq loop renewed its health key within HEALTH_CHECK_SECONDS, else 1
    (also when Redis cannot be reached: nothing is scheduled then either)."""
    if not settings.redis_url:
        raise SystemExit("imgflow cron needs IMGFLOW_REDIS_URL (arq keeps its schedule in Redis)")
    redis_settings = RedisSettings.from_dsn(settings.redis_url)
    redis_settings.conn_retries = 0  # a probe answers now, it does not wait for Redis
    try:
        return asyncio.run(
            async_check_health(redis_settings, queue_name=arq_queue_name(settings.namespace))
        )
    except (OSError, RedisError) as exc:
        log.warning("cron health not read: %r", exc)
        return 1


def run(settings: Settings) -> None:
    """Blocks until SIGINT/SIGTERM."""
    if not settings.redis_url:
        raise SystemExit("imgflow cron needs IMGFLOW_REDIS_URL (arq keeps its schedule in Redis)")
    asyncio.run(supervise(settings))


async def supervise(settings: Settings) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    pause = RESTART_MIN_SECONDS
    async with open_services(settings) as services:
        # Webhooks need no Redis: they keep sending while arq restarts.
        sender = asyncio.create_task(Sender(services).run_forever())
        try:
            while not stopping.is_set():
                error = await run_worker(build_worker(services), stopping)
                if error is None:
                    break
                log.warning("arq worker stopped (%r); restarting in %.0f s", error, pause)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), pause)
                pause = min(pause * 2, RESTART_MAX_SECONDS)
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
    log.info("cron stopped")


async def run_worker(worker: Worker, stopping: asyncio.Event) -> BaseException | None:
    """Run `worker` until it fails (returns the error) or `stopping` is set (None)."""
    main = asyncio.create_task(worker.async_run())
    stop = asyncio.create_task(stopping.wait())
    await asyncio.wait({main, stop}, return_when=asyncio.FIRST_COMPLETED)
    stop.cancel()
    error: BaseException | None = None
    if main.done():
        error = main.exception() or RuntimeError("arq worker returned")
    # close() cancels what is running and drops arq's Redis pool; with Redis down it
    # fails part-way, which only matters for the pool's sockets.
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
            await worker.close()
    except Exception as exc:
        log.debug("arq worker close: %r", exc)
    await asyncio.gather(main, return_exceptions=True)
    return error
