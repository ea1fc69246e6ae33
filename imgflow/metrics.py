"""Prometheus metrics of one process, exposed at `GET /metrics` on its HTTP port.

Every process serves its own figures: `serve` everything on its one port, `api` the
GraphQL side and queue depth, `worker` the jobs it settled and its handler slots on its
`--port` (where /healthz already is). Prometheus scrapes each process and adds them up
(`sum without (instance)`), so no multiprocess registry (shared files) is needed: each
process is one Python interpreter with one uvicorn worker. `imgflow cron` has no HTTP
port and exposes nothing.

Each `Metrics` has a registry of its own rather than the library's global one: tests
build several apps in one Python process, and a metric registered twice in one registry
raises.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from imgflow.domain import JobStatus, QueueName
from imgflow.models import Job

# `<name>_created` series double every counter and histogram in the text format for a
# timestamp Prometheus derives itself; the switch is process-wide in the library.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in the library

JOB_SECONDS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
"""From a small image's few tens of milliseconds to the 10 minutes past which a job's
time matters less than the fact that it is late (it still counts, in +Inf)."""
GRAPHQL_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
"""A GraphQL name, at most 64 characters: anything else is not a name a client chose
for an operation of ours (a typo, or an attempt to stuff the label)."""


class OperationNames:
    """Operation names as label values, in bounded number.

    Names are chosen by clients, and every distinct label value is a new time series
    kept for the life of the process: the first `limit` distinct names are kept, later
    ones are counted as `other`. Thread-safe: extensions run in the event loop, but a
    scrape may come from anywhere."""

    ANONYMOUS = "anonymous"
    INVALID = "invalid"
    OTHER = "other"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen: set[str] = set()
        self.lock = threading.Lock()

    def label(self, name: str | None) -> str:
        if not name:
            return self.ANONYMOUS
        if name in self.seen:
            return name
        if not GRAPHQL_NAME.fullmatch(name):
            return self.INVALID
        with self.lock:
            if len(self.seen) >= self.limit:
                return self.OTHER
            self.seen.add(name)
        return name


class Metrics:
    def __init__(self, max_operation_names: int = 100) -> None:
        self.registry = CollectorRegistry()
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            # The library's stateless collectors (CPU, memory, GC), shared: they keep no
            # state, so one instance may sit in several registries.
            self.registry.register(collector)
        self.operation_names = OperationNames(max_operation_names)
        self._job_metrics()
        self._worker_metrics()
        self._graphql_metrics()
        self.webhook_attempts = Counter(
            "imgflow_webhook_attempts_total",
            "Webhook delivery attempts this process's sender made, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in ("delivered", "failed"):
            self.webhook_attempts.labels(outcome)  # present at 0 before the first one

    def _job_metrics(self) -> None:
        registry = self.registry
        self.jobs_finished = Counter(
            "imgflow_jobs_finished_total",
            "Jobs that reached a final status (SUCCEEDED, FAILED, CANCELLED) in this process.",
            ["queue", "status"],
            registry=registry,
        )
        self.job_failures = Counter(
            "imgflow_job_failures_total",
            "Jobs that FAILED in this process, by error code.",
            ["queue", "code"],
            registry=registry,
        )
        self.queue_wait = Histogram(
            "imgflow_job_queue_wait_seconds",
            "Submission to the start of the attempt that settled the job (jobs a worker ran).",
            ["queue"],
            buckets=JOB_SECONDS_BUCKETS,
            registry=registry,
        )
        self.processing = Histogram(
            "imgflow_job_processing_seconds",
            "Start to end of the worker attempt that settled the job.",
            ["queue"],
            buckets=JOB_SECONDS_BUCKETS,
            registry=registry,
        )
        self.end_to_end = Histogram(
            "imgflow_job_end_to_end_seconds",
            "Submission to final status of jobs a worker ran.",
            ["queue"],
            buckets=JOB_SECONDS_BUCKETS,
            registry=registry,
        )
        self.queue_depth = Gauge(
            "imgflow_queue_depth",
            "Jobs QUEUED now, in the whole system (read from the database at scrape time; "
            "API processes only: every one reports the same figure, aggregate with max).",
            ["queue"],
            registry=registry,
        )
        self.oldest_queued_age = Gauge(
            "imgflow_queue_oldest_age_seconds",
            "Age (since submission) of the longest-waiting QUEUED job, 0 when none waits "
            "(read with imgflow_queue_depth; aggregate with max).",
            ["queue"],
            registry=registry,
        )
        self.notifications_pending = Gauge(
            "imgflow_notifications_pending",
            "Finished jobs whose completion notification SNS has not accepted yet, over the "
            "last day (API processes; 0 while notifications are off, NaN when the database "
            "could not be read; aggregate with max).",
            registry=registry,
        )
        self.webhook_deliveries_pending = Gauge(
            "imgflow_webhook_deliveries_pending",
            "Webhook deliveries owed or waiting for a retry (API processes; NaN when the "
            "database could not be read; aggregate with max).",
            registry=registry,
        )

    def _worker_metrics(self) -> None:
        self.busy_slots = Gauge(
            "imgflow_worker_busy_slots",
            "Job handlers of this process running now.",
            ["queue"],
            registry=self.registry,
        )
        self.slots = Gauge(
            "imgflow_worker_slots",
            "Job handlers this process may run at once (its concurrency).",
            ["queue"],
            registry=self.registry,
        )

    def _graphql_metrics(self) -> None:
        self.graphql_operations = Counter(
            "imgflow_graphql_operations_total",
            "GraphQL operations by type and name (anonymous, invalid, or other past the "
            "name limit).",
            ["type", "name"],
            registry=self.registry,
        )
        self.graphql_errors = Counter(
            "imgflow_graphql_errors_total",
            "GraphQL errors sent to clients, by extensions.code.",
            ["code"],
            registry=self.registry,
        )
        self.subscriptions = Gauge(
            "imgflow_graphql_subscriptions_active",
            "Subscriptions running now in this process.",
            ["field"],
            registry=self.registry,
        )
        self.identity_lookups = Counter(
            "imgflow_identity_lookups_total",
            "Callers identified, by where the account came from: memory (kept while "
            "account changes are heard) or database.",
            ["source"],
            registry=self.registry,
        )
        self.identity_feed_live = Gauge(
            "imgflow_identity_feed_live",
            "1 while this process hears account changes (PostgreSQL LISTEN) and may keep "
            "identities in memory; 0 when every identity is read from the database.",
            registry=self.registry,
        )

    # --- what the rest of the code reports ---

    def job_finished(self, job: Job) -> None:
        """A job reached a final status (called once per such transition)."""
        queue = job.queue.value
        self.jobs_finished.labels(queue, job.status.value).inc()
        if job.status is JobStatus.FAILED:
            self.job_failures.labels(queue, job.error_code or "UNKNOWN").inc()
        started, finished = job.started_at, job.finished_at
        if started is None or finished is None:
            return  # never ran: cancelled, or refused before a worker saw it
        # created_at comes from the API's clock, the others from the worker's: clamp the
        # small negative a skew between hosts could produce.
        self.queue_wait.labels(queue).observe(max(0.0, (started - job.created_at).total_seconds()))
        self.processing.labels(queue).observe(max(0.0, (finished - started).total_seconds()))
        self.end_to_end.labels(queue).observe(max(0.0, (finished - job.created_at).total_seconds()))

    def webhook_attempt(self, delivered: bool) -> None:
        self.webhook_attempts.labels("delivered" if delivered else "failed").inc()

    def worker_slots(self, queue: QueueName, count: int) -> None:
        self.slots.labels(queue.value).set(count)
        self.busy_slots.labels(queue.value)  # present at 0 before the first job

    @contextmanager
    def busy(self, queue: QueueName) -> Iterator[None]:
        with self.busy_slots.labels(queue.value).track_inprogress():
            yield

    def set_queue_depth(self, queued: dict[QueueName, int]) -> None:
        for queue in QueueName:
            self.queue_depth.labels(queue.value).set(queued.get(queue, 0))

    def set_oldest_queued(self, submitted: dict[QueueName, datetime], now: datetime) -> None:
        for queue in QueueName:
            since = submitted.get(queue)
            # A clock a little behind the API host's could make it negative: none waits longer.
            age = max(0.0, (now - since).total_seconds()) if since is not None else 0.0
            self.oldest_queued_age.labels(queue.value).set(age)

    def forget_queue_depth(self) -> None:
        """No figure rather than a stale one when the database could not be read."""
        self.queue_depth.clear()
        self.oldest_queued_age.clear()

    def graphql_operation(self, operation_type: str, name: str | None) -> None:
        self.graphql_operations.labels(operation_type, self.operation_names.label(name)).inc()

    def graphql_error(self, code: str) -> None:
        self.graphql_errors.labels(code).inc()

    @contextmanager
    def subscription(self, field: str) -> Iterator[None]:
        with self.subscriptions.labels(field).track_inprogress():
            yield

    def identity_lookup(self, source: str) -> None:
        self.identity_lookups.labels(source).inc()

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)
