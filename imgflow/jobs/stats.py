"""Operational views for the admin role: what is waiting, what got done, what failed.

Read from the job rows, not the broker: the rows are the truth on every backend, and
the numbers mean the same with RabbitMQ or the in-process queue.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import col

from imgflow.domain import JobStatus, QueueName, QueueStats, SystemStats
from imgflow.models import Job, utcnow
from imgflow.services import Services

LATENCY_SAMPLE = 50_000
"""Most finished jobs (the latest) the window's figures are computed over."""


@dataclass(frozen=True)
class Finished:
    queue: QueueName
    status: JobStatus
    error_code: str | None
    seconds: float
    """Submission to end."""


async def system_stats(services: Services, window_minutes: int) -> SystemStats:
    finished = await finished_since(services, utcnow() - timedelta(minutes=window_minutes))
    waiting = await waiting_by_queue(services)
    queues = [
        queue_stats(queue, [f for f in finished if f.queue == queue], waiting, window_minutes)
        for queue in QueueName
    ]
    failures = Counter(f.error_code for f in finished if f.status == JobStatus.FAILED)
    return SystemStats(
        window_minutes, queues, {code: n for code, n in failures.most_common() if code}
    )


def queue_stats(
    queue: QueueName,
    finished: list[Finished],
    waiting: Counter[tuple[QueueName, JobStatus]],
    window_minutes: int,
) -> QueueStats:
    done = Counter(f.status for f in finished)
    latencies = sorted(f.seconds for f in finished if f.status == JobStatus.SUCCEEDED)
    return QueueStats(
        queue=queue,
        queued=waiting[(queue, JobStatus.QUEUED)],
        processing=waiting[(queue, JobStatus.PROCESSING)],
        succeeded=done[JobStatus.SUCCEEDED],
        failed=done[JobStatus.FAILED],
        throughput_per_minute=round(done[JobStatus.SUCCEEDED] / window_minutes, 3),
        latency_p50_seconds=percentile(latencies, 0.50),
        latency_p95_seconds=percentile(latencies, 0.95),
    )


async def finished_since(services: Services, since: datetime) -> list[Finished]:
    query = (
        select(
            col(Job.queue),
            col(Job.status),
            col(Job.error_code),
            col(Job.created_at),
            col(Job.finished_at),
        )
        .where(col(Job.finished_at) >= since)
        .order_by(col(Job.finished_at).desc())
        .limit(LATENCY_SAMPLE)
    )
    async with services.sessions() as session:
        rows = (await session.execute(query)).all()
    return [
        Finished(QueueName(queue), JobStatus(status), code, (finished - created).total_seconds())
        for queue, status, code, created, finished in rows
    ]


async def waiting_by_queue(services: Services) -> Counter[tuple[QueueName, JobStatus]]:
    query = (
        select(col(Job.queue), col(Job.status), func.count())
        .where(col(Job.status).in_([JobStatus.QUEUED, JobStatus.PROCESSING]))
        .group_by(col(Job.queue), col(Job.status))
    )
    async with services.sessions() as session:
        rows = (await session.execute(query)).all()
    return Counter({(QueueName(queue), JobStatus(status)): int(n) for queue, status, n in rows})


async def oldest_queued_by_queue(services: Services) -> dict[QueueName, datetime]:
    """When the longest-waiting QUEUED job of each queue was submitted (queues with
    none waiting are left out)."""
    query = (
        select(col(Job.queue), func.min(col(Job.created_at)))
        .where(col(Job.status) == JobStatus.QUEUED)
        .group_by(col(Job.queue))
    )
    async with services.sessions() as session:
        rows = (await session.execute(query)).all()
    return {QueueName(queue): as_utc(created) for queue, created in rows}


def as_utc(moment: datetime) -> datetime:
    """SQLite's aggregates come back naive (the column's type is not applied to them)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def percentile(ordered: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an ascending list; None when empty."""
    if not ordered:
        return None
    rank = max(1, round(fraction * len(ordered)))
    return round(ordered[min(rank, len(ordered)) - 1], 3)
