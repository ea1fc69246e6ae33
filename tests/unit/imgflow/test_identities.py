"""The identity cache keeps an account only while a feed of account changes vouches for
it. The feed here is a stand-in for PostgreSQL's (tests/integration/test_user_changes.py
runs the real one): it only calls back what the real one would."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from imgflow.identities import Identities
from imgflow.models import User


class Feed:
    """Goes live as soon as it is watched; the test drives revocations and losses."""

    def __init__(self) -> None:
        self.revoke: Callable[[str], None] = lambda _id: None
        self.set_live: Callable[[bool], None] = lambda _live: None

    async def watch(self, revoke: Callable[[str], None], set_live: Callable[[bool], None]) -> None:
        self.revoke, self.set_live = revoke, set_live
        set_live(True)
        await asyncio.Event().wait()


class Rows:
    """The users table, counting its reads."""

    def __init__(self, *users: User) -> None:
        self.users = {user.id: user for user in users}
        self.reads = 0

    def reader(self, user_id: str) -> Callable[[], Awaitable[User | None]]:
        async def read() -> User | None:
            self.reads += 1
            await asyncio.sleep(0)
            return self.users.get(user_id)

        return read


async def started(feed: Feed | None) -> Identities:
    identities = Identities(feed)
    identities.start_watching()
    await asyncio.sleep(0)  # the watcher's first step: live
    return identities


async def test_without_a_feed_every_caller_is_read() -> None:
    rows = Rows(User(id="a", email="a@x.io", password_hash="h"))
    identities = await started(None)
    for _ in range(3):
        assert (await identities.user("a", rows.reader("a"))) is rows.users["a"]
    assert rows.reads == 3


async def test_a_live_feed_keeps_accounts_until_one_changes() -> None:
    rows = Rows(User(id="a", email="a@x.io", password_hash="h"))
    feed = Feed()
    identities = await started(feed)
    await identities.user("a", rows.reader("a"))
    await identities.user("a", rows.reader("a"))
    assert rows.reads == 1
    rows.users["a"] = User(id="a", email="a@x.io", password_hash="h", disabled=True)
    feed.revoke("a")
    user = await identities.user("a", rows.reader("a"))
    assert user is not None
    assert user.disabled
    assert rows.reads == 2
    await identities.user("a", rows.reader("a"))
    assert rows.reads == 3  # a disabled account is never kept
    await identities.close()


async def test_a_read_overtaken_by_a_change_keeps_nothing() -> None:
    rows = Rows(User(id="a", email="a@x.io", password_hash="h"))
    feed = Feed()
    identities = await started(feed)
    reading = asyncio.create_task(identities.user("a", rows.reader("a")))
    await asyncio.sleep(0)  # the read has begun: the old row is on its way
    feed.revoke("a")
    await reading
    await identities.user("a", rows.reader("a"))
    assert rows.reads == 2
    await identities.close()


async def test_losing_the_feed_forgets_everything_and_stops_keeping() -> None:
    rows = Rows(User(id="a", email="a@x.io", password_hash="h"))
    feed = Feed()
    identities = await started(feed)
    await identities.user("a", rows.reader("a"))
    feed.set_live(False)
    await identities.user("a", rows.reader("a"))
    await identities.user("a", rows.reader("a"))
    assert rows.reads == 3
    feed.set_live(True)  # back: kept again, from a fresh read
    await identities.user("a", rows.reader("a"))
    await identities.user("a", rows.reader("a"))
    assert rows.reads == 4
    await identities.close()


async def test_a_truncated_table_revokes_everyone_and_the_oldest_makes_room() -> None:
    rows = Rows(*(User(id=name, email=f"{name}@x.io", password_hash="h") for name in "abc"))
    feed = Feed()
    identities = Identities(feed, max_entries=2)
    identities.start_watching()
    await asyncio.sleep(0)
    for name in "abc":
        await identities.user(name, rows.reader(name))
    assert sorted(identities.users) == ["b", "c"]
    feed.revoke("")
    assert identities.users == {}
    await identities.close()
