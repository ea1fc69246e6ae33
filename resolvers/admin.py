"""Admin-only resolvers: system statistics and any user's job."""

from __future__ import annotations

import strawberry

from gql.context import Info
from gql.types import Job, SystemStats
from imgflow.accounts import registration as accounts
from imgflow.errors import ErrorCode, ImgflowError
from imgflow.jobs import records as jobs
from imgflow.jobs import stats as admin

MAX_WINDOW_MINUTES = 7 * 24 * 60


def check_window(window_minutes: int) -> None:
    """The stats window both `systemStats` and `queueStats` accept."""
    if not 1 <= window_minutes <= MAX_WINDOW_MINUTES:
        raise ImgflowError(
            ErrorCode.BAD_USER_INPUT, f"windowMinutes must be between 1 and {MAX_WINDOW_MINUTES}"
        )


async def system_stats(info: Info, window_minutes: int = 15) -> SystemStats:
    accounts.require_admin(await info.context.user())
    check_window(window_minutes)
    return SystemStats.from_stats(await admin.system_stats(info.context.services, window_minutes))


async def any_job(info: Info, id: strawberry.ID) -> Job | None:
    accounts.require_admin(await info.context.user())
    row = await jobs.load(info.context.services, str(id))
    return Job.from_row(row) if row is not None else None
