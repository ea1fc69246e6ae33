"""Configuration from `IMGFLOW_*` environment variables (and `.env`).

With nothing set, everything lives under `./imgflow-data`: a SQLite database, local
file storage, an in-process broker and in-process events. Each backend is switched by
a URL.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from imgflow import faults
from imgflow.domain import QueueName
from workers.info import Limits

MIN_SECRET_LENGTH = 32
DEFAULT_CONCURRENCY = {
    QueueName.ROTATE: 1,
    QueueName.RESIZE: 1,
    QueueName.FORCE_RESIZE: 1,
    QueueName.CONVERT: 2,
}


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

    concurrency: Annotated[dict[QueueName, int], NoDecode] = Field(
        default_factory=lambda: dict(DEFAULT_CONCURRENCY)
    )
    """Jobs in flight per queue, e.g. `convert=3,rotate=1` (the CLI flag takes the same)."""
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

    log_level: str = "INFO"
    log_json: bool = False

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

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'imgflow.db'}"

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or (self.data_dir.resolve() / "files").as_uri()

    @property
    def limits(self) -> Limits:
        return Limits(max_pixels=self.max_pixels, max_frames=self.max_frames)

    def secret(self) -> str:
        """The signing secret; refuses a missing or short one."""
        if not self.jwt_secret or len(self.jwt_secret) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"IMGFLOW_JWT_SECRET must be set to at least {MIN_SECRET_LENGTH} characters"
            )
        return self.jwt_secret


def parse_concurrency(text: str) -> dict[QueueName, int]:
    """`convert=3,rotate=1` -> {CONVERT: 3, ROTATE: 1, others: default}."""
    result = dict(DEFAULT_CONCURRENCY)
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, count = item.partition("=")
        try:
            queue = QueueName(name.strip().upper().replace("-", "_"))
            value = int(count)
        except ValueError:
            raise ValueError(f"bad concurrency item {item!r}: expected queue=count") from None
        if not sep or value < 0:
            raise ValueError(f"bad concurrency item {item!r}: expected queue=count >= 0")
        result[queue] = value
    return result


def ensure_local_secret(settings: Settings) -> Settings:
    """For the zero-config `serve`: keep a generated secret in the data directory."""
    if settings.jwt_secret:
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
