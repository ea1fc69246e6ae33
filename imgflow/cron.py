"""`imgflow cron`: housekeeping on arq's scheduler, for the multi-process deployment.

Several cron processes may run: arq's `unique` cron jobs take a Redis lock per
scheduled run, and every housekeeping step is a guarded UPDATE anyway.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from arq.connections import RedisSettings
from arq.cron import cron
from arq.worker import Worker, func

from imgflow import housekeeping
from imgflow.notifications import PUBLISH_MAX_TRIES, arq_queue_name, publish_completion
from imgflow.services import Services, open_services
from imgflow.settings import Settings

Ctx = dict[str, Any]
EVERY_30_SECONDS = {0, 30}


async def housekeeping_pass(ctx: Ctx) -> None:
    services: Services = ctx["services"]
    await housekeeping.run_once(
        services, requeue_after_seconds=services.settings.requeue_after_seconds
    )


def build_worker(settings: Settings, *, handle_signals: bool = True) -> Worker:
    if not settings.redis_url:
        raise ValueError("imgflow cron needs IMGFLOW_REDIS_URL (arq keeps its schedule in Redis)")
    stack = AsyncExitStack()

    async def startup(ctx: Ctx) -> None:
        ctx["services"] = await stack.enter_async_context(open_services(settings))

    async def shutdown(ctx: Ctx) -> None:
        await stack.aclose()

    return Worker(
        functions=[func(publish_completion, max_tries=PUBLISH_MAX_TRIES)],
        cron_jobs=[
            cron(housekeeping_pass, second=EVERY_30_SECONDS, run_at_startup=True, unique=True)
        ],
        queue_name=arq_queue_name(settings.namespace),
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        on_startup=startup,
        on_shutdown=shutdown,
        handle_signals=handle_signals,
    )


def run(settings: Settings) -> None:
    """Blocks until SIGINT/SIGTERM (arq installs the handlers)."""
    build_worker(settings).run()
