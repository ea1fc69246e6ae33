"""Query resolvers: translate arguments, call the job and account services."""

from __future__ import annotations

import strawberry

from gql.context import Info
from gql.enums import JobStatus
from gql.types import Job, JobConnection, QueueOverview, User
from imgflow.errors import ErrorCode, ImgflowError
from imgflow.jobs import queue_overview as queue_stats
from imgflow.jobs import records as jobs
from resolvers.admin import check_window

MAX_PAGE = 100


async def me(info: Info) -> User:
    return User.from_row(await info.context.user())


async def job(info: Info, id: strawberry.ID) -> Job | None:
    user = await info.context.user()
    try:
        return Job.from_row(await jobs.get_job(info.context.services, user.id, str(id)))
    except ImgflowError as error:
        if error.code is ErrorCode.NOT_FOUND:
            return None
        raise


async def list_jobs(
    info: Info,
    first: int | None = 20,
    after: str | None = None,
    status: JobStatus | None = None,
) -> JobConnection:
    user = await info.context.user()
    size = 20 if first is None else first
    if not 1 <= size <= MAX_PAGE:
        raise ImgflowError(ErrorCode.BAD_USER_INPUT, f"first must be between 1 and {MAX_PAGE}")
    page = await jobs.list_jobs(
        info.context.services,
        user.id,
        size,
        after,
        status,
    )
    return JobConnection.from_rows(page.jobs, page.has_next_page)


async def queue_overview(info: Info, window_minutes: int = 15) -> QueueOverview:
    """For any signed-in user: per-queue figures only, nothing per user or per code."""
    await info.context.user()
    check_window(window_minutes)
    stats = await queue_stats.queue_overview(info.context.services, window_minutes)
    return QueueOverview.from_stats(stats)
