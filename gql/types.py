"""GraphQL object types, built from rows (kept private, never exposed)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gql.analysis import ImageAnalysis
from gql.context import Info
from gql.enums import JobStatus, QueueName
from gql.images import ImageInfo, describe, stored_image
from gql.outputs import JobProgress, Output, srcset_value
from imgflow import domain, models
from imgflow.jobs import cursors
from imgflow.jobs.outputs import outputs_of, progress


@strawberry.type(description="Why a job failed: a stable code and a human message.")
class JobError:
    code: str
    message: str


@strawberry.type(description="One image and its pipeline of operations.")
class Job:
    row: strawberry.Private[models.Job]
    id: strawberry.ID
    status: JobStatus
    queue: QueueName
    attempts: int = strawberry.field(
        description="Worker tries since the job was submitted, or since its last retryJob."
    )
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: models.Job) -> Job:
        return cls(
            row=row,
            id=strawberry.ID(row.id),
            status=row.status,
            queue=row.queue,
            attempts=row.attempts,
            created_at=row.created_at,
            updated_at=row.updated_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
        )

    @strawberry.field(description="The uploaded image (upright size).")
    def source(self) -> ImageInfo | None:
        row = self.row
        return stored_image(
            row.source_key,
            row.source_format,
            (row.source_width, row.source_height, row.source_bytes, row.source_frames),
        )

    @strawberry.field(description="Where the source is fetched from (submitImageUrl).")
    def source_url(self) -> str | None:
        return self.row.source_url

    @strawberry.field(description="The processed image, once the job has SUCCEEDED.")
    def result(self) -> ImageInfo | None:
        row = self.row
        return stored_image(
            row.result_key,
            row.result_format,
            (row.result_width, row.result_height, row.result_bytes, row.result_frames),
        )

    @strawberry.field(description="Set when the job has FAILED.")
    def error(self) -> JobError | None:
        if self.row.error_code is None:
            return None
        return JobError(code=self.row.error_code, message=self.row.error_message or "")

    @strawberry.field(
        description="The pipeline, one line per step, e.g. `rotate degrees=90`: with "
        "variants or a srcset, the common prefix every output continues from."
    )
    def operations(self) -> list[str]:
        return [describe(step) for step in self.row.operations]

    @strawberry.field(
        description="What the job makes: its variants, then its srcset widths (`w<width>`); "
        "one output named `default` when it asks for neither. Each has its image once "
        "stored: subscribers see them appear one by one."
    )
    def outputs(self) -> list[Output]:
        return [Output.from_output(self.row, output) for output in outputs_of(self.row)]

    @strawberry.field(description="Outputs stored so far, of the job's total.")
    def progress(self) -> JobProgress:
        done = progress(self.row)
        return JobProgress(done=done.done, total=done.total)

    @strawberry.field(
        description="srcset widths left out because the prefix's image is narrower "
        "(never upscaled); empty when none were, or before a direct upload's file arrived."
    )
    def skipped_widths(self) -> list[int]:
        return list(self.row.skipped_widths or [])

    @strawberry.field(
        description="The HTML `srcset` value of the stored srcset outputs, narrowest first "
        "(`<url> 320w, <url> 640w`); null when there are none. The URLs expire like "
        "`ImageInfo.url`."
    )
    async def srcset(self, info: Info) -> str | None:
        return await srcset_value(info, outputs_of(self.row))

    @strawberry.field(
        description="With `analyze: true`: the source's analysis, set as soon as the worker "
        "has decoded it (before the outputs are made); null until then, and without it."
    )
    def analysis(self) -> ImageAnalysis | None:
        return None if self.row.analysis is None else ImageAnalysis.from_json(self.row.analysis)


@strawberry.type(description="An account.")
class User:
    id: strawberry.ID
    email: str
    created_at: datetime
    is_admin: bool = strawberry.field(
        description="Operators may read systemStats and any user's job (anyJob)."
    )

    @classmethod
    def from_row(cls, row: models.User) -> User:
        return cls(
            id=strawberry.ID(row.id),
            email=row.email,
            created_at=row.created_at,
            is_admin=row.is_admin,
        )


@strawberry.type(description="A bearer token for `Authorization: Bearer <token>`.")
class AuthPayload:
    token: str
    expires_at: datetime
    user: User


@strawberry.type
class JobEdge:
    cursor: str
    node: Job


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(description="A page of jobs, newest first.")
class JobConnection:
    edges: list[JobEdge]
    page_info: PageInfo

    @classmethod
    def from_rows(cls, rows: list[models.Job], has_next_page: bool) -> JobConnection:
        edges = [
            JobEdge(cursor=cursors.encode(r.created_at, r.id), node=Job.from_row(r)) for r in rows
        ]
        end = edges[-1].cursor if edges else None
        return cls(edges=edges, page_info=PageInfo(has_next_page=has_next_page, end_cursor=end))


@strawberry.type(description="One form field of a direct upload.")
class FormField:
    name: str
    value: str


@strawberry.type(
    description="POST `fields` then the file as `file` (multipart) to `url`, before "
    "`expiresAt`; then call `confirmUpload` (or let the S3 event do it)."
)
class UploadTicket:
    job: Job
    url: str
    fields: list[FormField]
    expires_at: datetime


@strawberry.type(description="One queue over the stats window (admin).")
class QueueStats:
    queue: QueueName
    queued: int = strawberry.field(description="Jobs waiting now.")
    processing: int = strawberry.field(description="Jobs a worker holds now.")
    succeeded: int = strawberry.field(description="Jobs that succeeded in the window.")
    failed: int = strawberry.field(description="Jobs that failed in the window.")
    throughput_per_minute: float = strawberry.field(description="Successes per minute.")
    latency_p50_seconds: float | None = strawberry.field(
        description="Median submission-to-result time of the window's successes."
    )
    latency_p95_seconds: float | None = strawberry.field(description="95th percentile of the same.")


@strawberry.type(description="How many failed jobs in the window carry this code.")
class FailureCount:
    code: str
    count: int


@strawberry.type(description="What is waiting, what got done, what failed (admin).")
class SystemStats:
    window_minutes: int
    queues: list[QueueStats]
    failures_by_code: list[FailureCount]

    @classmethod
    def from_stats(cls, stats: domain.SystemStats) -> SystemStats:
        return cls(
            window_minutes=stats.window_minutes,
            queues=[QueueStats(**vars(queue)) for queue in stats.queues],
            failures_by_code=[
                FailureCount(code=code, count=n) for code, n in stats.failures_by_code.items()
            ],
        )


@strawberry.type(description="One queue's load: what waits, what runs, how fast it moves.")
class QueueLoad:
    queue: QueueName
    queued: int = strawberry.field(description="Jobs waiting now.")
    processing: int = strawberry.field(description="Jobs a worker holds now.")
    throughput_per_minute: float = strawberry.field(
        description="Jobs that succeeded per minute over the window."
    )
    latency_p50_seconds: float | None = strawberry.field(
        description="Median submission-to-result time of the window's successes; null "
        "when there were none."
    )
    latency_p95_seconds: float | None = strawberry.field(description="95th percentile of the same.")


@strawberry.type(description="Every queue's load over the last `windowMinutes`.")
class QueueOverview:
    window_minutes: int
    queues: list[QueueLoad]

    @classmethod
    def from_stats(cls, stats: domain.SystemStats) -> QueueOverview:
        """The public part of the admin's figures: no per-code counts."""
        return cls(
            window_minutes=stats.window_minutes,
            queues=[
                QueueLoad(
                    queue=q.queue,
                    queued=q.queued,
                    processing=q.processing,
                    throughput_per_minute=q.throughput_per_minute,
                    latency_p50_seconds=q.latency_p50_seconds,
                    latency_p95_seconds=q.latency_p95_seconds,
                )
                for q in stats.queues
            ],
        )
