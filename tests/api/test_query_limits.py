"""GraphQL limits through a real server, on both backend mixes: every refusal has its
code, comes before execution (no data, nothing recorded), over HTTP and WebSocket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.client import JOB_FIELDS, Client, GraphQLErrors
from tests.conftest import Server, new_user, start_server, stop_server

TIGHT = {
    "IMGFLOW_GRAPHQL_MAX_DEPTH": "3",
    "IMGFLOW_GRAPHQL_MAX_ALIASES": "2",
    "IMGFLOW_GRAPHQL_MAX_COMPLEXITY": "25",
    "IMGFLOW_GRAPHQL_MAX_QUERY_LENGTH": "2000",
}
REQUEST_UPLOAD = (
    'requestUpload(filename: "a.jpg", contentType: "image/jpeg", operations: [{grayscale: true}])'
)
# Cost 1 + 10 * (1 + 1) = 21, depth 3: within TIGHT.
COUNT_JOBS = "query($n: Int = 10) { jobs(first: $n) { edges { cursor } } }"
FULL_PAGE = f"jobs(first: 100) {{ edges {{ cursor node {{ {JOB_FIELDS} }} }} }}"


@pytest.fixture(scope="module")
def tight_server(
    backend: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("tight"), {**backend, **TIGHT})
    yield server
    stop_server(server)
    assert "Traceback" not in server.log(), server.tracebacks()


@pytest.fixture
async def tight(tight_server: Server) -> AsyncIterator[Client]:
    user = await new_user(tight_server.base_url)
    yield user
    await user.close()


async def refused(client: Client, query: str, variables: dict[str, Any] | None = None) -> list[str]:
    body = await client.raw(query, variables)
    assert body.get("data") is None, body  # validation refused it: nothing ran
    return [str(error["extensions"]["code"]) for error in body["errors"]]


async def recorded_jobs(client: Client) -> int:
    return len((await client.execute(COUNT_JOBS))["jobs"]["edges"])


async def test_within_the_limits_the_job_is_recorded(tight: Client) -> None:
    """The control for the tests below: this is how a recorded job shows."""
    await tight.execute(f"mutation {{ {REQUEST_UPLOAD} {{ job {{ id }} }} }}")
    assert await recorded_jobs(tight) == 1


async def test_too_deep_is_refused_and_records_nothing(tight: Client) -> None:
    query = f"mutation {{ {REQUEST_UPLOAD} {{ job {{ source {{ url }} }} }} }}"
    assert await refused(tight, query) == ["QUERY_TOO_DEEP"]
    assert await recorded_jobs(tight) == 0


async def test_too_many_aliases_is_refused_and_records_nothing(tight: Client) -> None:
    query = "mutation { " + " ".join(f"a{n}: {REQUEST_UPLOAD} {{ url }}" for n in range(3)) + " }"
    assert await refused(tight, query) == ["TOO_MANY_ALIASES"]
    assert await recorded_jobs(tight) == 0


async def test_too_complex_is_refused_and_records_nothing(tight: Client) -> None:
    # Two aliases (allowed), 16 fields each, 3 levels deep: 32 > 25.
    fields = "url expiresAt fields { name value } job { id status queue attempts createdAt "
    fields += "updatedAt startedAt finishedAt operations }"
    query = f"mutation {{ a: {REQUEST_UPLOAD} {{ {fields} }} b: {REQUEST_UPLOAD} {{ {fields} }} }}"
    assert await refused(tight, query) == ["QUERY_TOO_COMPLEX"]
    assert await recorded_jobs(tight) == 0


async def test_a_page_costs_what_it_may_return(tight: Client) -> None:
    # jobs(first: n) { edges { cursor } } costs 1 + 2n: 21 for 10, 31 for 15.
    assert await refused(tight, COUNT_JOBS, {"n": 15}) == ["QUERY_TOO_COMPLEX"]
    assert await refused(tight, COUNT_JOBS.replace("= 10", "= 15")) == ["QUERY_TOO_COMPLEX"]
    assert await recorded_jobs(tight) == 0


async def test_too_long_is_refused_before_parsing(tight: Client) -> None:
    assert await refused(tight, "{ me { id } }" + " " * 2000) == ["QUERY_TOO_LARGE"]


async def ws_refusal(client: Client, query: str) -> list[str]:
    """The codes a WebSocket operation is refused with; an accepted subscription would
    wait for events, so the refusal must come within seconds."""
    try:
        async with asyncio.timeout(10), client.subscription(query) as events:
            async for event in events:
                raise AssertionError(f"executed: {event}")
    except GraphQLErrors as refusal:
        return refusal.codes
    raise AssertionError("completed without an error")


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ jobs(first: 1) { edges { node { id } } } }", "QUERY_TOO_DEEP"),  # a query, over WS
        ("subscription { jobsUpdated { a: id b: id c: id } }", "TOO_MANY_ALIASES"),
        (f"subscription {{ jobsUpdated {{ {JOB_FIELDS} }} }}", "QUERY_TOO_COMPLEX"),  # 26 > 25
    ],
)
async def test_limits_apply_over_websocket(tight: Client, query: str, code: str) -> None:
    assert await ws_refusal(tight, query) == [code]


async def test_default_limits_allow_a_full_page(client: Client) -> None:
    data = await client.execute(f"{{ {FULL_PAGE} }}")
    assert data["jobs"]["edges"] == []


async def test_default_limits_refuse_pages_side_by_side(client: Client) -> None:
    query = f"{{ a: {FULL_PAGE} b: {FULL_PAGE} }}"
    assert await refused(client, query) == ["QUERY_TOO_COMPLEX"]


async def test_default_limits_refuse_many_aliases(client: Client) -> None:
    query = "{ " + " ".join(f"a{n}: me {{ id }}" for n in range(16)) + " }"
    assert await refused(client, query) == ["TOO_MANY_ALIASES"]
