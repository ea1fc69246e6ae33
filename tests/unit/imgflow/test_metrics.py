"""The metrics registry (one per app, bounded labels, job timings from the row) and the
short-lived cache behind `queueStats`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from imgflow.domain import JobStatus, QueueName, SystemStats
from imgflow.metrics import Metrics, OperationNames
from imgflow.models import Job
from imgflow.shared_reads import SharedReads

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return None


def job(status: JobStatus, **values: object) -> Job:
    return Job(
        owner_id="u",
        status=status,
        queue=QueueName.RESIZE,
        operations=[],
        source_key="k",
        created_at=T0,
        **values,
    )


def test_two_registries_in_one_process_count_apart() -> None:
    first, second = Metrics(), Metrics()  # a second app in the same process must not raise
    first.job_finished(job(JobStatus.CANCELLED, finished_at=T0))
    assert sample(first, "imgflow_jobs_finished_total", queue="RESIZE", status="CANCELLED") == 1
    assert sample(second, "imgflow_jobs_finished_total", queue="RESIZE", status="CANCELLED") is None


def test_a_job_that_ran_is_timed_from_its_row() -> None:
    metrics = Metrics()
    started = T0 + timedelta(seconds=3)
    failed = job(
        JobStatus.FAILED,
        error_code="CORRUPT_IMAGE",
        started_at=started,
        finished_at=started + timedelta(seconds=0.5),
    )
    metrics.job_finished(failed)
    queue = {"queue": "RESIZE"}
    assert sample(metrics, "imgflow_job_failures_total", code="CORRUPT_IMAGE", **queue) == 1
    assert sample(metrics, "imgflow_job_queue_wait_seconds_sum", **queue) == 3.0
    assert sample(metrics, "imgflow_job_processing_seconds_sum", **queue) == 0.5
    assert sample(metrics, "imgflow_job_end_to_end_seconds_sum", **queue) == 3.5
    assert sample(metrics, "imgflow_job_end_to_end_seconds_bucket", le="2.5", **queue) == 0
    assert sample(metrics, "imgflow_job_end_to_end_seconds_bucket", le="5.0", **queue) == 1


def test_a_job_that_never_ran_is_counted_not_timed() -> None:
    metrics = Metrics()
    metrics.job_finished(job(JobStatus.CANCELLED, finished_at=T0 + timedelta(seconds=9)))
    assert sample(metrics, "imgflow_jobs_finished_total", queue="RESIZE", status="CANCELLED") == 1
    assert sample(metrics, "imgflow_job_end_to_end_seconds_count", queue="RESIZE") is None


def test_operation_names_are_bounded() -> None:
    names = OperationNames(limit=2)
    assert names.label(None) == "anonymous"
    assert names.label("") == "anonymous"
    assert names.label("drop table; --") == "invalid"
    assert names.label("x" * 65) == "invalid"
    assert names.label("Submit") == "Submit"
    assert names.label("Watch") == "Watch"
    assert names.label("Third") == "other"
    assert names.label("Submit") == "Submit"  # names kept before the limit stay themselves


def test_busy_slots_go_back_down_when_a_handler_fails() -> None:
    metrics = Metrics()
    metrics.worker_slots(QueueName.CONVERT, 2)
    try:
        with metrics.busy(QueueName.CONVERT):
            assert sample(metrics, "imgflow_worker_busy_slots", queue="CONVERT") == 1
            raise ConnectionError("storage away")
    except ConnectionError:
        pass
    assert sample(metrics, "imgflow_worker_busy_slots", queue="CONVERT") == 0
    assert sample(metrics, "imgflow_worker_slots", queue="CONVERT") == 2


class Reads:
    """Counts the reads behind the cached answers; `fail` makes the next read raise."""

    def __init__(self) -> None:
        self.count = 0
        self.fail = False

    async def read(self) -> SystemStats:
        self.count += 1
        await asyncio.sleep(0.01)  # long enough for concurrent callers to overlap
        if self.fail:
            raise ConnectionError("database away")
        return SystemStats(window_minutes=15, queues=[], failures_by_code={})


async def test_queue_overviews_are_read_once_per_interval() -> None:
    cache, reads = SharedReads[int, SystemStats](), Reads()
    answers = await asyncio.gather(*(cache.get(15, 60, reads.read) for _ in range(5)))
    assert reads.count == 1
    assert all(answer is answers[0] for answer in answers)
    await cache.get(16, 60, reads.read)  # another window, another read
    assert reads.count == 2
    await cache.get(15, 0, reads.read)  # older than a zero interval: read again
    assert reads.count == 3


async def test_a_failed_read_is_not_kept() -> None:
    cache, reads = SharedReads[int, SystemStats](), Reads()
    reads.fail = True
    with pytest.raises(ConnectionError):
        await cache.get(15, 60, reads.read)
    reads.fail = False
    assert (await cache.get(15, 60, reads.read)).window_minutes == 15
    assert reads.count == 2


def test_the_oldest_wait_per_queue_is_never_negative_and_zero_where_none_waits() -> None:
    metrics = Metrics()
    submitted = {
        QueueName.ROTATE: T0 - timedelta(seconds=90),
        QueueName.CONVERT: T0 + timedelta(seconds=2),  # the API host's clock runs ahead
    }
    metrics.set_oldest_queued(submitted, now=T0)
    oldest = "imgflow_queue_oldest_age_seconds"
    assert sample(metrics, oldest, queue="ROTATE") == 90
    assert sample(metrics, oldest, queue="CONVERT") == 0
    assert sample(metrics, oldest, queue="RESIZE") == 0
    metrics.forget_queue_depth()  # the database could not be read: no stale figure
    assert sample(metrics, oldest, queue="ROTATE") is None
