"""Schema assembly: the root types, each field with the resolver behind it; the contract
clients and code generators depend on (exported as schema.graphql)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from gql.errors import ErrorCodes, log_unexpected
from gql.presets import Preset
from gql.request_metrics import OperationMetrics
from gql.transport import OneOperationOrNamed, SubscriptionsOverWebSocket
from gql.types import (
    AuthPayload,
    Job,
    JobConnection,
    QueueOverview,
    SystemStats,
    UploadTicket,
    User,
)
from gql.webhooks import Webhook, WebhookDelivery, WebhookDeliveryConnection
from resolvers import admin, mutations, presets, queries, subscriptions
from resolvers import webhooks as hooks


@strawberry.type
class Query:
    me: User = strawberry.field(resolver=queries.me, description="The signed-in user.")
    job: Job | None = strawberry.field(
        resolver=queries.job, description="One of your jobs; null if it is not yours or absent."
    )
    jobs: JobConnection = strawberry.field(
        resolver=queries.list_jobs, description="Your jobs, newest first (Relay-style cursors)."
    )
    queue_stats: QueueOverview = strawberry.field(
        resolver=queries.queue_overview,
        description="Every queue's depth and jobs processing now, and its throughput and "
        "latency over the last `windowMinutes` (1 to 10080); the same figures for everyone, "
        "refreshed every few seconds.",
    )
    system_stats: SystemStats = strawberry.field(
        resolver=admin.system_stats,
        description="Admin: per-queue depth, throughput and latency, and failures by code, "
        "over the last `windowMinutes`. Others get FORBIDDEN.",
    )
    presets: list[Preset] = strawberry.field(
        resolver=presets.list_presets,
        description="The presets you may submit by name: the shared ones (from the server's "
        "presets file), then yours, each by name.",
    )
    any_job: Job | None = strawberry.field(
        resolver=admin.any_job,
        description="Admin: any user's job by id. Others get FORBIDDEN.",
    )
    webhooks: list[Webhook] = strawberry.field(
        resolver=hooks.webhooks, description="Your webhook endpoints, oldest first."
    )
    webhook_deliveries: WebhookDeliveryConnection = strawberry.field(
        resolver=hooks.webhook_deliveries,
        description="Attempts to deliver to one of your webhooks, newest first (Relay-style "
        "cursors), owed ones included.",
    )


@strawberry.type
class Mutation:
    register: AuthPayload = strawberry.mutation(
        resolver=mutations.register, description="Create an account and sign in."
    )
    login: AuthPayload = strawberry.mutation(
        resolver=mutations.login, description="Sign in; returns a bearer token."
    )
    submit_image: Job = strawberry.mutation(
        resolver=mutations.submit_image,
        description="Upload an image (multipart) with a pipeline; the job starts QUEUED. "
        "`operations` run once, then each of `variants` and each `srcset` width continues "
        "from their image as an output of its own (at most IMGFLOW_MAX_OUTPUTS, else "
        "TOO_MANY_OUTPUTS); with neither, the job has one output, `default`. "
        "`analyze: true` fills `Job.analysis` (with nothing else asked: an analysis-only "
        "job, no outputs). `preset` names a stored spec instead (`presets`): naming one and "
        "giving a spec too is BAD_USER_INPUT; a server with IMGFLOW_PRESETS_ONLY refuses "
        "submissions without one (PRESET_REQUIRED). "
        "`idempotencyKey` (1-200 printable characters, yours alone): submitting again with a "
        "key you used returns that job, whatever the file and pipeline, and creates none.",
    )
    submit_image_url: Job = strawberry.mutation(
        resolver=mutations.submit_image_url,
        description="Like submitImage, the source fetched from an http(s) `url` by a worker "
        "(never the API): at most 3 redirects, IMGFLOW_MAX_UPLOAD_BYTES, and never an "
        "address the SSRF guard refuses. The job FAILS with FETCH_REFUSED, FETCH_FAILED or "
        "FETCH_TOO_LARGE when the fetch does.",
    )
    submit_images: list[Job] = strawberry.mutation(
        resolver=mutations.submit_images,
        description="Upload several images (multipart) with one spec: one job per file, in "
        "the files' order, all or none. At most IMGFLOW_MAX_BATCH_FILES (20) files "
        "(TOO_MANY_FILES); the batch counts against the submission limits as that many "
        "submissions. A refused file (its number in the message) refuses the batch.",
    )
    create_preset: Preset = strawberry.mutation(
        resolver=presets.create_preset,
        description="Store a job spec under `name` ([a-z0-9][a-z0-9_-]{0,39}), yours alone; "
        "then `submitImage(file, preset: name)`. A name you use, or a shared preset's, is "
        "PRESET_EXISTS; on a server with IMGFLOW_PRESETS_ONLY, FORBIDDEN.",
    )
    delete_preset: Preset = strawberry.mutation(
        resolver=presets.delete_preset,
        description="Delete one of your presets (returned); another's or a missing one is "
        "NOT_FOUND, a shared one FORBIDDEN. Jobs already submitted with it are unchanged.",
    )
    request_upload: UploadTicket = strawberry.mutation(
        resolver=mutations.request_upload,
        description="Start a direct upload: a job AWAITING_UPLOAD and a signed form for its "
        "file. `operations`, `variants` and `srcset` as in submitImage; srcset widths are "
        "fitted once the file has arrived.",
    )
    confirm_upload: Job = strawberry.mutation(
        resolver=mutations.confirm_upload,
        description="The file of a direct upload is in place: check it and queue the job.",
    )
    cancel_job: Job = strawberry.mutation(
        resolver=mutations.cancel_job,
        description="Cancel a job that has not started (AWAITING_UPLOAD or QUEUED). A job "
        "already PROCESSING is not interrupted: it runs to its end, and cancelling it, or a "
        "finished job, is JOB_NOT_CANCELLABLE. Cancelling a CANCELLED job returns it.",
    )
    retry_job: Job = strawberry.mutation(
        resolver=mutations.retry_job,
        description="Queue a FAILED job again, error cleared; `attempts` counts the tries "
        "since the last retryJob. Any other state, or a direct upload whose file never "
        "passed the checks, is JOB_NOT_RETRYABLE.",
    )
    create_webhook: Webhook = strawberry.mutation(
        resolver=hooks.create_webhook,
        description="Have `url` called when your jobs end with one of `events`. The answer "
        "holds the signing secret, shown this once. A URL the SSRF guard refuses is "
        "FETCH_REFUSED; past IMGFLOW_MAX_WEBHOOKS_PER_USER, TOO_MANY_WEBHOOKS.",
    )
    delete_webhook: Webhook = strawberry.mutation(
        resolver=hooks.delete_webhook,
        description="Remove an endpoint; deliveries still owed to it are dropped.",
    )
    redeliver_webhook: WebhookDelivery = strawberry.mutation(
        resolver=hooks.redeliver_webhook,
        description="Send a delivery's event once more, now (same `webhook-id`); a disabled "
        "endpoint is enabled again.",
    )


@strawberry.type
class Subscription:
    job_updated: AsyncGenerator[Job, None] = strawberry.subscription(
        resolver=subscriptions.job_updated,
        description="The job's current state, then every change; ends after a terminal state.",
    )
    jobs_updated: AsyncGenerator[Job, None] = strawberry.subscription(
        resolver=subscriptions.jobs_updated,
        description="Every change to any of your jobs, as it happens.",
    )


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_unexpected(errors)


def build_schema(*extensions: Callable[[], SchemaExtension]) -> strawberry.Schema:
    """The served schema takes the request limits (gql.query_limits) as `extensions`; the SDL
    is the same with or without them."""
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            *extensions,
            OneOperationOrNamed,
            SubscriptionsOverWebSocket,
            OperationMetrics,
            ErrorCodes,
        ],
    )


schema = build_schema()
