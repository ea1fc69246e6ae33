"""Engine and sessions for the database chosen by URL (SQLite or PostgreSQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, exc, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

SessionFactory = async_sessionmaker[AsyncSession]
POOL_RECYCLE_SECONDS = 1800


def create_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # No pool_pre_ping: on asyncpg it is a BEGIN, a query and a ROLLBACK (three round
    # trips) before every checkout, 6-8% of the API's and the worker's loop. A server
    # that closed the connection (restart, pg_terminate_backend, idle timeout) is seen
    # without asking it: asyncpg marks the connection closed when the socket ends, and
    # `_discard_closed` hands the pool a new one. pool_recycle bounds how long a
    # connection silently cut on the way (no FIN) can stay in the pool.
    engine = create_async_engine(
        url, pool_size=10, max_overflow=10, pool_recycle=POOL_RECYCLE_SECONDS
    )
    event.listen(engine.sync_engine, "checkout", _discard_closed)
    return engine


def _discard_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    if dbapi_connection.driver_connection.is_closed():
        # The pool drops this one and checks out another (up to three times).
        raise exc.DisconnectionError("the server closed this connection")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (subscriptions, queries) run while a worker writes.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def autocommit_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions for work that is one statement (a guarded UPDATE, a read by key, one
    INSERT): the statement is its own transaction, so no BEGIN before it and no
    COMMIT or ROLLBACK after it, one round trip instead of three on PostgreSQL.
    Never for two statements that must hold together.

    SQLite has no round trips to save, and switching aiosqlite's isolation level on
    checkout and back on checkin costs more than BEGIN/COMMIT (measured: 1.0 -> 1.5 ms
    of CPU per guarded UPDATE), so there these are the ordinary sessions."""
    if engine.dialect.name == "sqlite":
        return session_factory(engine)
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    return async_sessionmaker(autocommit, class_=AsyncSession, expire_on_commit=False)


async def ping_database(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
