"""Per-user limits: what counts against which setting, and how a refusal reads.

Every check runs before the work it guards, so a refused request leaves nothing behind
(no job row, no stored file, no held place). The counting itself is the limiter's
(imgflow.backends.counters: in-process, or Redis across API processes); the active-jobs limit
counts rows instead (see `check_active_jobs`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import func
from sqlmodel import col, select

from imgflow.backends.counters import Entry, Full
from imgflow.domain import JobStatus
from imgflow.errors import ErrorCode, ImgflowError
from imgflow.models import Job
from imgflow.services import Services

SUBMISSION_WINDOW_SECONDS = 60.0
REGISTRATION_WINDOW_SECONDS = 3600.0
ACTIVE_STATUSES = (JobStatus.AWAITING_UPLOAD, JobStatus.QUEUED, JobStatus.PROCESSING)
IPV6_CLIENT_PREFIX = 64
"""An IPv6 client usually holds a whole /64: counting single addresses would let it
rotate through them."""


def rate_limited(what: str, retry_after: float) -> ImgflowError:
    seconds = max(1, math.ceil(retry_after))
    return ImgflowError(
        ErrorCode.RATE_LIMITED,
        f"{what}; try again in {seconds} s",
        extensions={"retryAfter": seconds},
    )


async def count_submission(services: Services, owner_id: str) -> None:
    """One `submitImage` or `requestUpload` call; RATE_LIMITED past the per-minute limit."""
    limit = services.settings.submissions_per_minute
    hit = await services.counters.hit(f"submissions:{owner_id}", limit, SUBMISSION_WINDOW_SECONDS)
    if isinstance(hit, Full):
        raise rate_limited(f"at most {limit} submissions per minute", hit.retry_after)


async def count_submissions(services: Services, owner_id: str, count: int) -> None:
    """A batch of `count` submissions (`submitImages`): all counted, or none and
    RATE_LIMITED, so a refused batch costs nothing of the minute's allowance."""
    limit = services.settings.submissions_per_minute
    taken: list[Entry] = []
    for _ in range(count):
        hit = await services.counters.hit(
            f"submissions:{owner_id}", limit, SUBMISSION_WINDOW_SECONDS
        )
        if isinstance(hit, Full):
            await give_back(services, taken)
            raise rate_limited(
                f"at most {limit} submissions per minute; this batch holds {count}",
                hit.retry_after,
            )
        taken.append(hit)


async def check_active_jobs(services: Services, owner_id: str, adding: int = 1) -> None:
    """TOO_MANY_ACTIVE_JOBS when the owner's jobs not yet ended, with the `adding` new
    ones, would be more than allowed.

    Counted from the job rows, not kept in a counter: the rows are the truth, and a
    counter would have to follow every way a job ends (workers, cancellation, upload
    expiry, housekeeping, in any process, across crashes) and drift for good at the
    first missed step. The price is a race: submissions of one user running at the same
    moment may all pass before any is recorded, so the limit can be exceeded by at most
    the number of that user's submissions in flight at once, itself held down by the
    per-minute submission limit."""
    limit = services.settings.max_active_jobs
    if await active_jobs(services, owner_id) + adding > limit:
        raise ImgflowError(
            ErrorCode.TOO_MANY_ACTIVE_JOBS,
            f"at most {limit} jobs may be waiting for an upload, queued or processing at "
            "once; submit again when one has ended (or cancel one)",
        )


async def active_jobs(services: Services, owner_id: str) -> int:
    query = (
        select(func.count())
        .select_from(Job)
        .where(Job.owner_id == owner_id, col(Job.status).in_(ACTIVE_STATUSES))
    )
    async with services.autocommit() as session:
        return int((await session.exec(query)).one())


@asynccontextmanager
async def login_attempt(services: Services, email: str, address: str | None) -> AsyncIterator[None]:
    """Counts a sign-in against the account and the client address before the password
    is checked, so a refusal costs no database read and no argon2 hash. The attempt is
    given back unless it ends with INVALID_CREDENTIALS: what counts is failures.

    Counted up front rather than after a failure, so that a burst of parallel guesses
    cannot all pass before the first of them is recorded. The account key is the
    submitted email (hashed), whether or not an account has it: the count, the refusal
    and its message are the same for every email, and say nothing about which exist."""
    entries = await take_login_entries(services, login_rules(services, email, address))
    failed = False
    try:
        yield
    except ImgflowError as error:
        failed = error.code is ErrorCode.INVALID_CREDENTIALS
        raise
    finally:
        if not failed:
            await give_back(services, entries)


def login_rules(services: Services, email: str, address: str | None) -> list[tuple[str, int]]:
    """(key, limit) pairs a sign-in counts against: its account, and its client address."""
    settings = services.settings
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    rules = [(f"login:account:{digest}", settings.login_failures_per_account)]
    if address is not None:
        network = client_network(address)
        rules.append((f"login:address:{network}", settings.login_failures_per_address))
    return rules


async def take_login_entries(services: Services, rules: list[tuple[str, int]]) -> list[Entry]:
    window = services.settings.login_window_seconds
    entries: list[Entry] = []
    for key, limit in rules:
        hit = await services.counters.hit(key, limit, window)
        if isinstance(hit, Full):
            await give_back(services, entries)  # a refusal counts against neither key
            raise rate_limited("too many failed sign-in attempts", hit.retry_after)
        entries.append(hit)
    return entries


async def give_back(services: Services, entries: list[Entry]) -> None:
    for entry in entries:
        await services.counters.remove(entry)


@asynccontextmanager
async def registration(services: Services, address: str | None) -> AsyncIterator[None]:
    """Counts a registration against its client address before any work (a burst of
    parallel calls cannot all pass before the first is recorded); given back unless an
    account was made, so typos and taken emails cost nothing."""
    if address is None:
        yield
        return
    limit = services.settings.registrations_per_hour
    key = f"registrations:{client_network(address)}"
    hit = await services.counters.hit(key, limit, REGISTRATION_WINDOW_SECONDS)
    if isinstance(hit, Full):
        raise rate_limited(f"at most {limit} registrations per hour", hit.retry_after)
    made = False
    try:
        yield
        made = True
    finally:
        if not made:
            await services.counters.remove(hit)


def client_network(address: str) -> str:
    """The address a sign-in is counted against: the address itself, or its /64 (IPv6)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an IP (a test client, a unix socket): counted as it is
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(ip)


async def open_connection(services: Services, user_id: str) -> Entry:
    """A place among the user's open WebSockets; TOO_MANY_CONNECTIONS when none is left."""
    limit = services.settings.max_connections_per_user
    entry = await services.counters.acquire(f"connections:{user_id}", limit)
    if entry is None:
        raise ImgflowError(
            ErrorCode.TOO_MANY_CONNECTIONS, f"at most {limit} open WebSockets per user"
        )
    return entry


async def open_anonymous_connection(services: Services, address: str | None) -> Entry | None:
    """A place among the client address's WebSockets opened without a token;
    TOO_MANY_CONNECTIONS when none is left. An address-less client (a unix socket) is
    not counted."""
    if address is None:
        return None
    limit = services.settings.max_anonymous_connections_per_address
    key = f"anonymous-connections:{client_network(address)}"
    entry = await services.counters.acquire(key, limit)
    if entry is None:
        raise ImgflowError(
            ErrorCode.TOO_MANY_CONNECTIONS,
            f"at most {limit} WebSockets without a token per client address",
        )
    return entry


async def close_connection(services: Services, entry: Entry) -> None:
    await services.counters.remove(entry)


@asynccontextmanager
async def subscription(services: Services, user_id: str) -> AsyncIterator[None]:
    """Holds a place among the user's running subscriptions for as long as the block
    runs, however it ends (completed, stopped by the client, disconnected, cancelled)."""
    limit = services.settings.max_subscriptions_per_user
    entry = await services.counters.acquire(f"subscriptions:{user_id}", limit)
    if entry is None:
        raise ImgflowError(
            ErrorCode.TOO_MANY_SUBSCRIPTIONS, f"at most {limit} running subscriptions per user"
        )
    try:
        yield
    finally:
        await services.counters.remove(entry)
