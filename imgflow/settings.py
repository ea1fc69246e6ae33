"""Configuration from `IMGFLOW_*` environment variables (and `.env`).

With nothing set, everything lives under `./imgflow-data`: a SQLite database, local
file storage, an in-process broker and in-process events. Each backend is switched by
a URL.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from imgflow import faults, secret_policy
from imgflow.concurrency import (
    AUTO,
    DEFAULT_CONCURRENCY,
    Concurrency,
    SlotRange,
    parse_concurrency,
    parse_queue_slots,
)
from imgflow.domain import QueueName
from imgflow.imaging.info import ImageLimits
from imgflow.outbound.guard import parse_allow

PasswordProfile = Literal["rfc9106-low-memory", "owasp-minimum"]

MIN_SECRET_LENGTH = secret_policy.MIN_SECRET_LENGTH


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="IMGFLOW_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Path("imgflow-data")
    """Where the embedded backends keep their files."""
    database_url: str | None = None
    """`sqlite+aiosqlite:///path.db` or `postgresql+asyncpg://...`; default: SQLite in data_dir."""
    broker_url: str = "memory://"
    """`memory://` (in-process) or `amqp://...`."""
    redis_url: str | None = None
    """`redis://...` for cross-process events; unset = in-process events."""
    storage_url: str | None = None
    """`file:///dir` or `s3://bucket/prefix`; default: files under data_dir."""
    s3_endpoint_url: str | None = None
    """Endpoint of a non-AWS S3 API (MinIO, moto...); credentials come from AWS_* variables."""
    s3_public_endpoint_url: str | None = None
    """The S3 endpoint as the users of result links and upload forms reach it, which those
    are signed for (compose: http://localhost:9000, while the processes use
    http://minio:9000); unset = s3_endpoint_url."""
    sns_notify_topic_arn: str | None = None
    """SNS topic announcing finished jobs (published by `imgflow cron`); unset = off."""
    sns_endpoint_url: str | None = None
    """Endpoint of a non-AWS SNS API (moto...); unset = AWS. Credentials from AWS_* variables."""
    namespace: str = "imgflow"
    """Prefix of queue names, Redis channels and keys: lets several deployments (or test
    runs) share one RabbitMQ vhost and one Redis."""
    sns_verify_signatures: bool = True
    """Verify every SNS message's signature; turn off only for local emulators (moto)."""
    sns_allowed_topics: str = ""
    """Comma-separated topic ARNs whose messages the webhook accepts; empty = refuse all."""
    sns_trusted_certificate_pem: str | None = None
    """Verify SNS signatures against this certificate instead of fetching AWS's (tests)."""
    public_url: str | None = None
    """Base URL clients reach the API at, for absolute file URLs; default: from the request."""

    jwt_secret: str | None = None
    """HMAC secret for tokens and signed file URLs; `serve` generates one in data_dir if unset."""
    token_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    file_url_ttl_seconds: int = Field(default=3600, ge=10)

    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    max_pixels: int = Field(default=50_000_000, ge=1)
    max_frames: int = Field(default=1_000, ge=1)
    max_operations: int = Field(default=20, ge=1)
    max_outputs: int = Field(default=20, ge=1)
    """Outputs per job: its variants plus its srcset widths."""

    concurrency: Annotated[Concurrency, NoDecode] = Field(
        default_factory=lambda: dict(DEFAULT_CONCURRENCY)
    )
    """Jobs in flight per queue, e.g. `convert=3,rotate=1` (the CLI flag takes the same),
    or `auto`: `total_slots` shared by the queues as their waiting work changes."""
    total_slots: int | None = Field(default=None, ge=1)
    """Under `auto`: jobs in flight in this process, all queues together; unset =
    `image_threads`."""
    queue_slots: Annotated[dict[QueueName, SlotRange], NoDecode] = Field(
        default_factory=lambda: parse_queue_slots("")
    )
    """Under `auto`: `convert=1:3,rotate=0:2`, each queue's minimum while it has work and
    its maximum; unnamed queues 0 to the total."""
    image_threads: int = Field(default=2, ge=1)
    """Threads running Pillow; Pillow releases the GIL, so one per core is the sweet spot."""
    max_attempts: int = Field(default=5, ge=1)
    """Deliveries of one job before a transient failure becomes final."""
    retry_base_seconds: float = Field(default=2.0, gt=0)
    """Backoff scale: after the n-th failed attempt the job waits a random time in
    [b/2, b], b = min(retry_max_seconds, retry_base_seconds * 2**(n-1)). With the
    defaults the four waits add up to at least 15 s (12 s after RabbitMQ's delay tiers):
    a storage or database outage shorter than that fails no job."""
    retry_max_seconds: float = Field(default=60.0, gt=0)
    """Cap of the backoff bound, however many attempts came before."""
    fault_injection: str = ""
    """TEST-ONLY: e.g. `storage_get:3` = the first 3 source reads of this process fail
    with a transient error (see imgflow/faults.py). Empty = off; never set in production."""
    lease_seconds: int = Field(default=30, ge=2)
    """A worker's hold on a job; renewed every third of it while the job runs, so it runs
    out only when the worker is gone (killed, partitioned), and then the job is taken
    over by the next delivery of its message or by housekeeping."""
    requeue_after_seconds: int = Field(default=300, ge=1)
    """QUEUED jobs untouched this long are published again: the safety net for a message
    lost between database and broker (a crash between commit and publish)."""
    notify_resend_after_seconds: int = Field(default=300, ge=1)
    """A finished job whose completion notification is still unpublished this long
    after is queued again by housekeeping (its first one was lost with Redis)."""
    shutdown_grace_seconds: int = Field(default=20, ge=0)
    """On SIGTERM: how long in-flight requests and jobs get to finish; jobs still running
    then are handed back to the queue (not counted as an attempt)."""
    housekeeping_interval_seconds: float = Field(default=30.0, gt=0)
    upload_ttl_seconds: int = Field(default=3600, ge=1)
    """How long a direct-upload job may wait for its file before it is failed."""
    upload_sweep_after_seconds: float = Field(default=60.0, ge=0)
    """Housekeeping looks for direct uploads nobody announced once they are this old."""

    # --- API hardening ---
    environment: Literal["development", "production"] = "development"
    """`production` closes what development leaves open: GraphiQL, introspection, CORS
    for any origin, and `serve` generating its own signing secret."""
    graphiql: bool | None = None
    """Serve the GraphiQL page at GET /graphql; unset = only in development."""
    introspection: bool | None = None
    """Answer `__schema` / `__type` queries; unset = only in development."""
    cors_origins: str = ""
    """Comma-separated origins browser pages may call the API from (CORS and WebSocket);
    empty = any origin in development, none in production."""
    max_request_bytes: int | None = Field(default=None, ge=1)
    """Largest HTTP request body, refused with 413 before it is read; unset =
    max_upload_bytes + 1 MiB (room for the multipart framing and the query)."""
    graphql_max_depth: int = Field(default=10, ge=1)
    """Deepest nesting of fields in one GraphQL document (fragments add none)."""
    graphql_max_aliases: int = Field(default=15, ge=0)
    """Aliases in one GraphQL document: each one resolves its field once more."""
    graphql_max_complexity: int = Field(default=5000, ge=1)
    """Fields one GraphQL document may resolve, a field under `jobs(first: n)` counting
    n times; a full page of 100 jobs with every field costs about 2,800."""
    graphql_max_query_length: int = Field(default=20_000, ge=1)
    """Characters in one GraphQL document, refused before parsing."""
    graphql_max_tokens: int = Field(default=2_000, ge=1)
    """Tokens (names, punctuation, values) in one GraphQL document, counted while it is
    lexed: a document over it is refused before its syntax tree is built or validated."""
    graphql_max_field_repeats: int = Field(default=5, ge=1)
    """How often one response name may be selected in one selection set (fragments
    included), checked before validation: graphql-core compares every such pair, so
    thousands of repeats (`{ me{id} me{id} ... }`) cost seconds of CPU."""

    # --- Rate limits and quotas ---
    submissions_per_minute: int = Field(default=600, ge=1)
    """`submitImage`, `submitImageUrl` and `requestUpload` calls one user may make in any
    60 seconds."""
    max_active_jobs: int = Field(default=100, ge=1)
    """Jobs one user may have AWAITING_UPLOAD, QUEUED or PROCESSING at once."""
    login_failures_per_account: int = Field(default=10, ge=1)
    """Failed sign-ins for one email within `login_window_seconds`; then it is refused
    (before the password is checked) until the oldest failure leaves the window."""
    login_failures_per_address: int = Field(default=100, ge=1)
    """Failed sign-ins from one client address (an IPv6 /64) within the window."""
    login_window_seconds: int = Field(default=900, ge=1)
    """The sliding window both sign-in limits count failures in."""
    max_connections_per_user: int = Field(default=100, ge=1)
    """WebSockets one user may hold open (counted from `connection_init`)."""
    max_subscriptions_per_user: int = Field(default=100, ge=1)
    """Subscriptions one user may have running at once, over any connections."""
    max_subscriptions_per_connection: int = Field(default=100, ge=1)
    """Operations one WebSocket may have running at once."""
    max_anonymous_connections_per_address: int = Field(default=20, ge=1)
    """WebSockets opened without a token (they can only register and sign in) one
    client address (an IPv6 /64) may hold open."""
    websocket_recheck_seconds: float = Field(default=5.0, gt=0)
    """How often an open WebSocket re-checks its account (disabled, deleted) and token
    expiry; its subscriptions end within this time of either."""
    registration: Literal["open", "closed"] = "open"
    """`closed`: `register` answers REGISTRATION_CLOSED; only `imgflow create-user` makes
    accounts."""
    registrations_per_hour: int = Field(default=20, ge=1)
    """Accounts one client address (an IPv6 /64) may register in any hour."""
    password_profile: PasswordProfile = "rfc9106-low-memory"
    """argon2id's cost: `rfc9106-low-memory` (64 MiB, 3 passes, 4 lanes) or
    `owasp-minimum` (19 MiB, 2 passes, 1 lane: a sixth of the CPU, for small machines).
    Each sign-in or registration in progress holds that memory. Stored hashes of the other
    profile still verify and are rehashed at their account's next sign-in."""

    # --- Decoding limits ---
    max_total_pixels: int = Field(default=100_000_000, ge=1)
    """Pixels across all frames of one image (frames x width x height), for the source
    and for every step of the pipeline: all frames are held decoded at once, so this
    bounds a job's memory (about 4 bytes a pixel) where `max_pixels` is per frame."""
    job_time_limit_seconds: float = Field(default=60.0, gt=0)
    """Longest one job's decode + operations + encode may take; past it the job FAILS
    with TIME_LIMIT_EXCEEDED, never retried, and the worker takes its next job."""

    # --- Analysis, presets, batches ---
    expose_gps: bool = False
    """Whether `Job.analysis.exif` includes where a photo was taken (GPS latitude,
    longitude, altitude). Off: the position is never read, stored or shown."""
    presets_file: Path | None = None
    """YAML or JSON file of presets everyone may use (`presets: {name: spec}`), read at
    start; a bad file stops the process with the reason."""
    presets_only: bool = False
    """Submissions must name a preset (PRESET_REQUIRED): clients cannot ask for
    arbitrary work."""
    max_batch_files: int = Field(default=20, ge=1)
    """Most files one `submitImages` may carry."""

    # --- Observability ---
    metrics_enabled: bool = True
    """Serve Prometheus metrics at GET /metrics on every HTTP port (api, worker, serve).
    Turn off where that port is public and no proxy keeps /metrics to the inside."""
    metrics_max_operation_names: int = Field(default=100, ge=0)
    """Distinct GraphQL operation names one process counts separately; names are chosen
    by clients, so later ones are counted as `other` (each name is a time series)."""
    queue_stats_cache_seconds: float = Field(default=5.0, ge=0)
    """How long a `queueStats` answer is reused for the same window: any signed-in user
    may ask, and each answer reads up to 50,000 job rows."""

    # --- Outbound calls: webhooks and images by URL (see imgflow.outbound) ---
    outbound_allow: str = ""
    """Comma-separated `host[:port]` or CIDR the SSRF guard lets through although they are
    private, loopback, ... (e.g. `hooks.internal:8443,10.1.0.0/16`); empty = public only."""
    max_webhooks_per_user: int = Field(default=10, ge=0)
    webhook_retry_schedule: Annotated[tuple[float, ...], NoDecode] = (
        5,
        300,
        1800,
        7200,
        18000,
        36000,
    )
    """Seconds before each retry of a failed delivery, comma-separated (7 tries, 17.5 hours)."""
    webhook_disable_after_hours: float = Field(default=72.0, gt=0)
    """An endpoint whose deliveries have all failed for this long is disabled."""
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    """Whole-delivery bound: connect, send, and read the (capped) answer."""
    fetch_timeout_seconds: float = Field(default=30.0, gt=0)
    """Whole-download bound of an image by URL (`submitImageUrl`), redirects included."""
    fetch_connect_timeout_seconds: float = Field(default=5.0, gt=0)

    log_level: str = "INFO"
    log_json: bool = False

    @field_validator("outbound_allow")
    @classmethod
    def _check_allow(cls, value: str) -> str:
        parse_allow(value)  # a typo refused at start, not a silently closed door
        return value

    @field_validator("webhook_retry_schedule", mode="before")
    @classmethod
    def _parse_schedule(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(float(part) for part in value.split(",") if part.strip())
        if isinstance(value, tuple) and any(delay < 0 for delay in value):
            raise ValueError("webhook retry delays are seconds, 0 or more")
        return value

    @field_validator("fault_injection")
    @classmethod
    def _check_faults(cls, value: str) -> str:
        faults.parse(value)  # refuse a typo at start rather than run without the fault
        return value

    @field_validator("concurrency", mode="before")
    @classmethod
    def _parse_concurrency(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_concurrency(value)
        return value

    @field_validator("queue_slots", mode="before")
    @classmethod
    def _parse_queue_slots(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_queue_slots(value)
        return value

    @model_validator(mode="after")
    def _check_minimums_fit(self) -> Settings:
        reserved = sum(slot_range.minimum for slot_range in self.queue_slots.values())
        if self.concurrency == AUTO and reserved > self.slot_total:
            raise ValueError(
                f"IMGFLOW_QUEUE_SLOTS minimums add up to {reserved}, more than the"
                f" {self.slot_total} slots of the process (IMGFLOW_TOTAL_SLOTS)"
            )
        return self

    @property
    def slot_total(self) -> int:
        """Under `auto`: the slots the queues share."""
        return self.total_slots or self.image_threads

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'imgflow.db'}"

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or (self.data_dir.resolve() / "files").as_uri()

    @property
    def shared_state_url(self) -> str:
        """Where live events and per-user counts live: Redis, else this process."""
        return self.redis_url or "memory://"

    @property
    def image_limits(self) -> ImageLimits:
        return ImageLimits(
            max_pixels=self.max_pixels,
            max_frames=self.max_frames,
            max_total_pixels=self.max_total_pixels,
            job_time_limit_seconds=self.job_time_limit_seconds,
        )

    # --- API hardening: what the environment decides ---
    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else not self.is_production

    @property
    def introspection_enabled(self) -> bool:
        return self.introspection if self.introspection is not None else not self.is_production

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        """Origins whose pages may call the API. Development allows any: tokens travel
        in the Authorization header (or the WebSocket's first message), never in
        cookies, so a foreign page gets nothing a user's browser would add by itself."""
        listed = tuple(filter(None, (part.strip() for part in self.cors_origins.split(","))))
        return listed or (() if self.is_production else ("*",))

    @property
    def request_byte_limit(self) -> int:
        return self.max_request_bytes or self.max_upload_bytes + 1024 * 1024

    def secret(self) -> str:
        """The signing secret; refuses a missing or short one, and in production a
        placeholder (see imgflow.secret_policy)."""
        return secret_policy.checked(self.jwt_secret, production=self.is_production)


def ensure_local_secret(settings: Settings) -> Settings:
    """For the zero-config `serve`: keep a generated secret in the data directory.
    Never in production: every process of a deployment must share one secret, set."""
    if settings.jwt_secret or settings.is_production:
        return settings
    path = settings.data_dir / "jwt-secret"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return settings.model_copy(update={"jwt_secret": path.read_text().strip()})


def get_settings(**overrides: object) -> Settings:
    """Build settings from the environment; keyword overrides win (used by the CLI and tests)."""
    return Settings(**overrides)  # type: ignore[arg-type]
