"""The in-process limiter's rules, and how a refusal reaches the client."""

from __future__ import annotations

import pytest
from graphql import GraphQLError

from gql.errors import classify
from imgflow.accounts.quotas import client_network, rate_limited
from imgflow.backends.counters import Entry, Full
from imgflow.backends.counters.memory import MemoryCounters
from imgflow.errors import ErrorCode, ImgflowError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_window_holds_at_most_limit_events_and_slides() -> None:
    clock = Clock()
    limiter = MemoryCounters(clock)
    assert isinstance(await limiter.hit("k", 2, 60), Entry)
    clock.now += 20
    assert isinstance(await limiter.hit("k", 2, 60), Entry)
    refused = await limiter.hit("k", 2, 60)
    assert refused == Full(retry_after=40.0)  # when the first event leaves the window
    clock.now += 40
    assert isinstance(await limiter.hit("k", 2, 60), Entry)
    assert isinstance(await limiter.hit("k", 2, 60), Full)  # the second is still inside


async def test_keys_are_counted_apart_and_refusals_do_not_count() -> None:
    clock = Clock()
    limiter = MemoryCounters(clock)
    await limiter.hit("a", 1, 60)
    for _ in range(3):
        assert isinstance(await limiter.hit("a", 1, 60), Full)
    assert isinstance(await limiter.hit("b", 1, 60), Entry)
    clock.now += 60
    assert isinstance(await limiter.hit("a", 1, 60), Entry)


async def test_an_event_given_back_frees_its_place() -> None:
    limiter = MemoryCounters(Clock())
    entry = await limiter.hit("k", 1, 60)
    assert isinstance(entry, Entry)
    await limiter.remove(entry)
    assert isinstance(await limiter.hit("k", 1, 60), Entry)


async def test_places_are_held_until_released_whatever_the_time() -> None:
    clock = Clock()
    limiter = MemoryCounters(clock)
    first = await limiter.acquire("k", 2)
    second = await limiter.acquire("k", 2)
    assert first is not None
    assert second is not None
    clock.now += 1e9
    assert await limiter.acquire("k", 2) is None
    await limiter.remove(first)
    await limiter.remove(first)  # twice: still one place
    assert await limiter.acquire("k", 2) is not None
    assert await limiter.acquire("k", 2) is None


def test_rate_limited_carries_whole_seconds_to_wait() -> None:
    error = rate_limited("too many", 0.2)
    assert error.code is ErrorCode.RATE_LIMITED
    assert error.extensions == {"retryAfter": 1}
    assert rate_limited("too many", 41.01).extensions == {"retryAfter": 42}


def test_extensions_of_an_error_reach_the_client_next_to_its_code() -> None:
    original = ImgflowError(ErrorCode.RATE_LIMITED, "slow down", extensions={"retryAfter": 7})
    error = GraphQLError("slow down", original_error=original, path=["submitImage"])
    classified = classify(error)
    assert classified.message == "slow down"
    assert classified.extensions == {"retryAfter": 7, "code": "RATE_LIMITED"}


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("testclient", "testclient"),
    ],
)
def test_sign_ins_are_counted_per_address_or_ipv6_network(address: str, network: str) -> None:
    assert client_network(address) == network
