"""The job state machine as one table: every way a job's status may change.

Each row says: from which status, on which event, to which status, who may cause it,
and what else must hold (the conditions). `imgflow.jobs.transitions` turns an event into one
guarded UPDATE whose WHERE clause is built from the event's rows only, so a job in any
other status is left alone. A new kind of change (an output's progress, a webhook's
delivery) is a new event and one row here, plus the named function that sets its
columns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import col

from imgflow.domain import JobStatus
from imgflow.models import Job


class Actor(StrEnum):
    """Who causes a change: the process kind whose code calls the named transition."""

    API = "api"
    WORKER = "worker"
    HOUSEKEEPING = "housekeeping"


class Event(StrEnum):
    SUBMIT = "submit"
    """A file sent through the API passed the checks: the job is born QUEUED."""
    SUBMIT_URL = "submit_url"
    """An image URL was given: the job is born QUEUED, its source fetched by the worker."""
    REQUEST_UPLOAD = "request_upload"
    """A direct upload was asked for: the job is born waiting for its file."""
    ACCEPT_UPLOAD = "accept_upload"
    """The uploaded file passed the checks (confirmUpload, S3 event, or the sweep)."""
    REFUSE_UPLOAD = "refuse_upload"
    """The uploaded file failed the checks."""
    EXPIRE_UPLOAD = "expire_upload"
    """The upload window closed with no file."""
    CANCEL = "cancel"
    CLAIM = "claim"
    """A worker takes the job under a lease: a queued one, or one whose lease ran out."""
    STORE_OUTPUT = "store_output"
    """One of the job's outputs is stored; the others are still being made."""
    STORE_ANALYSIS = "store_analysis"
    """The source's analysis is read (right after the decode); outputs may follow."""
    SUCCEED = "succeed"
    FAIL = "fail"
    """The image's fault, or transient trouble on the last attempt."""
    RELEASE = "release"
    """Transient trouble: back to the queue for a later try, the attempt counted."""
    HAND_BACK = "hand_back"
    """Shutdown cut the attempt short: back to the queue, the attempt given back."""
    RECLAIM = "reclaim"
    """The holder's lease ran out (it died): back to the queue."""
    ABANDON = "abandon"
    """The holder's lease ran out on the last attempt."""
    RETRY = "retry"
    """The owner re-drives a failed job with a clean slate."""


@dataclass(frozen=True)
class Fence:
    """What a transition is checked against, beyond the status: the time, and the
    attempt a worker claimed (writes settling a running job are fenced by it)."""

    now: datetime
    attempt: int | None = None


@dataclass(frozen=True)
class Condition:
    """Something besides the status that must hold, as a SQL clause on the job row."""

    name: str
    clause: Callable[[Fence], ColumnElement[bool]]


def _claimed_by(fence: Fence) -> ColumnElement[bool]:
    if fence.attempt is None:
        raise ValueError("this transition is fenced: it needs the claiming attempt")
    return col(Job.attempts) == fence.attempt


HELD = Condition("held by the attempt that claimed it", _claimed_by)
LEASE_RAN_OUT = Condition("its lease ran out", lambda fence: col(Job.lease_until) < fence.now)
SOURCE_CHECKED = Condition(
    "its source passed the checks, or is fetched by the worker",
    lambda fence: or_(col(Job.source_format).is_not(None), col(Job.source_url).is_not(None)),
)


@dataclass(frozen=True)
class Transition:
    source: JobStatus | None
    """None: the event creates the job."""
    event: Event
    target: JobStatus
    by: frozenset[Actor]
    when: tuple[Condition, ...] = field(default=())


_S = JobStatus
_API, _WORKER, _HOUSEKEEPING = (
    frozenset({Actor.API}),
    frozenset({Actor.WORKER}),
    frozenset({Actor.HOUSEKEEPING}),
)
TRANSITIONS: tuple[Transition, ...] = (
    Transition(None, Event.SUBMIT, _S.QUEUED, _API),
    Transition(None, Event.SUBMIT_URL, _S.QUEUED, _API),
    Transition(None, Event.REQUEST_UPLOAD, _S.AWAITING_UPLOAD, _API),
    Transition(_S.AWAITING_UPLOAD, Event.ACCEPT_UPLOAD, _S.QUEUED, _API | _HOUSEKEEPING),
    Transition(_S.AWAITING_UPLOAD, Event.REFUSE_UPLOAD, _S.FAILED, _API | _HOUSEKEEPING),
    Transition(_S.AWAITING_UPLOAD, Event.EXPIRE_UPLOAD, _S.FAILED, _HOUSEKEEPING),
    Transition(_S.AWAITING_UPLOAD, Event.CANCEL, _S.CANCELLED, _API),
    Transition(_S.QUEUED, Event.CANCEL, _S.CANCELLED, _API),
    Transition(_S.QUEUED, Event.CLAIM, _S.PROCESSING, _WORKER),
    # Taking over: the holder's lease ran out (it died), and its message came back.
    Transition(_S.PROCESSING, Event.CLAIM, _S.PROCESSING, _WORKER, (LEASE_RAN_OUT,)),
    Transition(_S.PROCESSING, Event.STORE_OUTPUT, _S.PROCESSING, _WORKER, (HELD,)),
    Transition(_S.PROCESSING, Event.STORE_ANALYSIS, _S.PROCESSING, _WORKER, (HELD,)),
    Transition(_S.PROCESSING, Event.SUCCEED, _S.SUCCEEDED, _WORKER, (HELD,)),
    Transition(_S.PROCESSING, Event.FAIL, _S.FAILED, _WORKER, (HELD,)),
    Transition(_S.PROCESSING, Event.RELEASE, _S.QUEUED, _WORKER, (HELD,)),
    Transition(_S.PROCESSING, Event.HAND_BACK, _S.QUEUED, _WORKER, (HELD,)),
    # Fenced by the lease as well: the worker may have renewed it since it was read.
    Transition(_S.PROCESSING, Event.RECLAIM, _S.QUEUED, _HOUSEKEEPING, (HELD, LEASE_RAN_OUT)),
    Transition(_S.PROCESSING, Event.ABANDON, _S.FAILED, _HOUSEKEEPING, (HELD, LEASE_RAN_OUT)),
    # A direct upload refused or never received has nothing a worker could process.
    Transition(_S.FAILED, Event.RETRY, _S.QUEUED, _API, (SOURCE_CHECKED,)),
)


def rows(event: Event) -> tuple[Transition, ...]:
    return tuple(row for row in TRANSITIONS if row.event is event)


def target(event: Event) -> JobStatus:
    """The status `event` leaves a job in: one per event, so one UPDATE can set it."""
    return rows(event)[0].target  # `check` made sure there is one


def sources(event: Event) -> tuple[JobStatus, ...]:
    """The statuses `event` may move a job out of (none for an event that creates it)."""
    return tuple(row.source for row in rows(event) if row.source is not None)


def creates(event: Event) -> bool:
    return any(row.source is None for row in rows(event))


def allowed(event: Event, fence: Fence) -> ColumnElement[bool]:
    """The WHERE clause admitting exactly the rows of `event`: a job in one of its
    source statuses, with that row's conditions met."""
    clauses = [
        and_(col(Job.status) == row.source, *(c.clause(fence) for c in row.when))
        for row in rows(event)
        if row.source is not None
    ]
    if not clauses:
        raise LookupError(f"event {event.value} changes no existing job")
    return or_(*clauses)


def held(fence: Fence) -> ColumnElement[bool]:
    """Still PROCESSING under the fenced attempt: what a lease renewal checks (a renewal
    is bookkeeping, not a change of status, so it is no row of the table)."""
    return and_(col(Job.status) == JobStatus.PROCESSING, HELD.clause(fence))


def check(table: tuple[Transition, ...]) -> None:
    """Refuse a table that leaves some event ambiguous: one row per status and event,
    someone who may cause each, and one target per event (one UPDATE sets it)."""
    seen: set[tuple[JobStatus | None, Event]] = set()
    targets: dict[Event, JobStatus] = {}
    for row in table:
        if (row.source, row.event) in seen:
            raise ValueError(f"two rows for {row.source} on {row.event.value}")
        seen.add((row.source, row.event))
        if not row.by:
            raise ValueError(f"nobody may cause {row.event.value}")
        if targets.setdefault(row.event, row.target) is not row.target:
            raise ValueError(f"event {row.event.value} needs one target status")
    if missing := set(Event) - set(targets):
        raise ValueError(f"events without a row: {sorted(missing)}")


check(TRANSITIONS)
