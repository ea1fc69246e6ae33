"""The backends one process uses, opened together from settings and closed together."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from imgflow.backends.broker import Broker, open_broker
from imgflow.backends.counters import Counters, open_counters
from imgflow.backends.events import Events, open_events
from imgflow.backends.notifier import Notifier, NullNotifier, open_notifier
from imgflow.backends.storage import Storage, open_storage
from imgflow.backends.user_changes import open_user_changes
from imgflow.db import SessionFactory, autocommit_factory, create_engine, session_factory
from imgflow.domain import SystemStats
from imgflow.identities import Identities
from imgflow.imaging.leash import configure_pillow
from imgflow.imaging.outputs import JobSpec
from imgflow.imaging.specs import load_presets_file
from imgflow.metrics import Metrics
from imgflow.settings import Settings
from imgflow.shared_reads import SharedReads


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    storage: Storage
    broker: Broker
    events: Events
    image_pool: ThreadPoolExecutor
    """Bounded pool for Pillow work: decode, transform, encode, and ingest probes."""
    notifier: Notifier = field(default_factory=NullNotifier)
    """Completion notifications; the null notifier when no SNS topic is configured."""
    autocommit: SessionFactory = field(kw_only=True)
    """Sessions for one statement each (imgflow.db.autocommit_factory): the hot paths'
    reads by key and guarded UPDATEs."""
    counters: Counters = field(kw_only=True)
    """Counts for the per-user limits (imgflow.accounts.quotas)."""
    metrics: Metrics = field(kw_only=True)
    """This process's Prometheus metrics (imgflow.metrics), served at /metrics."""
    queue_overviews: SharedReads[int, SystemStats] = field(
        default_factory=SharedReads, kw_only=True
    )
    """The public queue figures, kept a few seconds (imgflow.jobs.queue_overview)."""
    shared_presets: dict[str, JobSpec] = field(default_factory=dict, kw_only=True)
    """The presets file's presets, everyone's (imgflow.jobs.presets), by name."""
    identities: Identities = field(default_factory=lambda: Identities(None), kw_only=True)
    """Accounts by id for authentication, kept while a feed revokes them on change."""


def shared_presets(settings: Settings) -> dict[str, JobSpec]:
    if settings.presets_file is None:
        return {}
    return load_presets_file(
        settings.presets_file,
        max_outputs=settings.max_outputs,
        max_operations=settings.max_operations,
    )


def storage_for(settings: Settings) -> Storage:
    return open_storage(
        settings.resolved_storage_url,
        secret=settings.secret(),
        url_ttl_seconds=settings.file_url_ttl_seconds,
        endpoint_url=settings.s3_endpoint_url,
        public_endpoint_url=settings.s3_public_endpoint_url,
    )


CONNECT_SECONDS = 20.0
"""How long one backend may take to connect at start: a process that cannot reach one
stops saying which, rather than hanging (its supervisor restarts it)."""


async def connected(name: str, connect: Callable[[], Awaitable[None]]) -> None:
    try:
        async with asyncio.timeout(CONNECT_SECONDS):
            await connect()
    except TimeoutError:
        raise ConnectionError(f"the {name} did not connect within {CONNECT_SECONDS:g} s") from None


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    notifier = open_notifier(settings)  # first: refuses a bad configuration early
    presets = shared_presets(settings)  # so does a bad presets file
    engine = create_engine(settings.resolved_database_url)
    storage = storage_for(settings)
    broker = open_broker(settings.broker_url, namespace=settings.namespace)
    events = open_events(settings.shared_state_url, namespace=settings.namespace)
    counters = open_counters(settings.shared_state_url, namespace=settings.namespace)
    configure_pillow(settings.image_limits)  # process-wide: once, before any Pillow thread
    pool = ThreadPoolExecutor(max_workers=settings.image_threads, thread_name_prefix="pillow")
    metrics = Metrics(settings.metrics_max_operation_names)
    changes = open_user_changes(settings.resolved_database_url)
    services = Services(
        settings,
        engine,
        session_factory(engine),
        storage,
        broker,
        events,
        pool,
        notifier,
        autocommit=autocommit_factory(engine),
        counters=counters,
        metrics=metrics,
        shared_presets=presets,
        identities=Identities(changes, metrics),
    )
    try:
        for name, connect in (
            ("storage", storage.connect),
            ("broker", broker.connect),
            ("events", events.connect),
            ("counters", counters.connect),
            ("notifier", notifier.connect),
        ):
            await connected(name, connect)
        yield services
    finally:
        await services.identities.close()
        await notifier.close()
        await broker.close()
        await events.close()
        await counters.close()
        await storage.close()
        pool.shutdown(wait=False, cancel_futures=True)
        await engine.dispose()
