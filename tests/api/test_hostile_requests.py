"""Issue 14 (and issue 13's item 5), over HTTP: malformed bodies answer 400 with a code
in the GraphQL error format and log no traceback, several operations need an
`operationName`, huge documents are refused before validation (and /healthz stays
responsive meanwhile), no field suggestions without introspection, registration is
limited per address (or closed), and a direct-upload form is good for one upload."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.api.test_uploads import post_form, request_ticket
from tests.client import Client
from tests.conftest import Server, start_server, stop_server
from tests.imaging import quadrants
from tests.imaging import to_bytes as encode

REGISTER = (
    'mutation($e: String!) { register(email: $e, password: "correct horse battery") { token } }'
)
ATTACK = {"query": "{" + " me{id}" * 2500 + "}"}


def codes(response: httpx.Response) -> list[str]:
    assert response.headers["content-type"].startswith("application/json"), response.text
    return [error["extensions"]["code"] for error in response.json()["errors"]]


JSON = {"content-type": "application/json"}
ME_OPERATIONS = '{"query": "{ me { id } }"}'


def multipart(operations: str, mapping: str) -> dict[str, object]:
    return {"data": {"operations": operations, "map": mapping}, "files": {"x": b"1"}}


MALFORMED: list[tuple[str, dict[str, object]]] = [
    ("json string", {"content": b'"abc"', "headers": JSON}),
    ("not utf-8", {"content": b'{"query": "\xff\xfe"}', "headers": JSON}),
    ("deep json", {"content": b"[" * 100_000, "headers": JSON}),
    ("bad json", {"content": b"{", "headers": JSON}),
    ("operations string", multipart('"abc"', "{}")),
    ("map list", multipart(ME_OPERATIONS, "[1]")),
    ("map bad path", multipart(ME_OPERATIONS, '{"x": ["a.b.c"]}')),
    ("file missing", multipart(ME_OPERATIONS, '{"0": ["variables.file"]}')),
    ("content type", {"content": b"{ me { id } }", "headers": {"content-type": "text/plain"}}),
]


@pytest.mark.parametrize("body", [b for _, b in MALFORMED], ids=[n for n, _ in MALFORMED])
async def test_malformed_bodies_answer_400_with_a_code(
    server: Server, body: dict[str, object]
) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{server.base_url}/graphql", **body)  # type: ignore[arg-type]
    assert response.status_code == 400, response.text
    assert codes(response) == ["BAD_REQUEST"]
    assert "Traceback" not in server.log()


async def test_bad_get_parameters_answer_json(server: Server) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(
            f"{server.base_url}/graphql", params={"query": "{ me { id } }", "variables": "[["}
        )
    assert response.status_code == 400
    assert codes(response) == ["BAD_REQUEST"]


async def test_several_operations_need_a_name(server: Server, client: Client) -> None:
    query = "query A { me { id } } query B { me { email } }"
    response = await client.http.post(
        f"{server.base_url}/graphql", json={"query": query}, headers=client.headers
    )
    assert response.status_code == 400
    assert codes(response) == ["OPERATION_NAME_REQUIRED"]
    named = await client.http.post(
        f"{server.base_url}/graphql",
        json={"query": query, "operationName": "B"},
        headers=client.headers,
    )
    assert named.status_code == 200
    assert "email" in named.json()["data"]["me"]


async def test_repeated_fields_are_refused_before_validation(
    server: Server, client: Client
) -> None:
    for query, code in [
        ("{" + " me{id}" * 2500 + "}", "QUERY_TOO_LARGE"),  # over the token limit
        ("{" + " me{id}" * 200 + "}", "QUERY_TOO_COMPLEX"),  # under it, repeated
    ]:
        body = await client.raw(query)
        assert [e["extensions"]["code"] for e in body["errors"]] == [code]
    assert (await client.execute("{ me { id } me { id email } }"))["me"]["email"]


async def test_healthz_stays_responsive_under_repeated_field_documents(server: Server) -> None:
    """4 parallel 18 KB documents used to stall the event loop for seconds: each one's
    validation held it 2.4-3.3 s, and healthz waited up to 8.2 s. Now it answers in about
    50 ms; the bound is 2 s, under one such stall, because this machine is shared with
    the other test process (1.06 s seen once under that load). The README has the
    figures."""
    async with httpx.AsyncClient(timeout=30) as http:

        async def attack() -> None:
            for _ in range(5):
                await http.post(f"{server.base_url}/graphql", json=ATTACK)

        async def healthz() -> float:
            await asyncio.sleep(0.05)
            worst = 0.0
            for _ in range(10):
                started = time.perf_counter()
                assert (await http.get(f"{server.base_url}/healthz")).status_code == 200
                worst = max(worst, time.perf_counter() - started)
            return worst

        *_, worst = await asyncio.gather(*(attack() for _ in range(4)), healthz())
    assert worst < 2.0


async def test_no_suggestions_without_introspection(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    server = start_server(tmp_path_factory.mktemp("closed"), CLOSED)
    try:
        async with httpx.AsyncClient() as http:
            answer = await http.post(f"{server.base_url}/graphql", json={"query": "{ mee { id } }"})
            assert "Did you mean" not in answer.text
            assert "mee" in answer.text
            refused = await http.post(
                f"{server.base_url}/graphql",
                json={"query": REGISTER, "variables": {"e": "x@example.com"}},
            )
            assert codes(refused) == ["REGISTRATION_CLOSED"]
    finally:
        stop_server(server)
    assert "Traceback" not in server.log()


CLOSED = {"IMGFLOW_INTROSPECTION": "false", "IMGFLOW_REGISTRATION": "closed"}


async def test_suggestions_stay_in_development(server: Server) -> None:
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{server.base_url}/graphql", json={"query": "{ mee { id } }"})
    assert "Did you mean" in answer.text


@pytest.fixture(scope="module")
def limited(backend: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {**backend, "IMGFLOW_REGISTRATIONS_PER_HOUR": "3"}
    if "IMGFLOW_NAMESPACE" in backend:
        env["IMGFLOW_NAMESPACE"] = f"{backend['IMGFLOW_NAMESPACE']}-reg-{uuid.uuid4().hex[:6]}"
    server = start_server(tmp_path_factory.mktemp("registrations"), env)
    yield server
    stop_server(server)
    assert "Traceback" not in server.log(), server.tracebacks()


async def register(http: httpx.AsyncClient, server: Server, address: str) -> httpx.Response:
    return await http.post(
        f"{server.base_url}/graphql",
        json={"query": REGISTER, "variables": {"e": f"u-{uuid.uuid4().hex[:10]}@example.com"}},
        headers={"X-Forwarded-For": address},
    )


async def test_registrations_are_limited_per_address(limited: Server) -> None:
    address = f"203.0.113.{uuid.uuid4().int % 250 + 1}"
    async with httpx.AsyncClient(timeout=60) as http:
        answers = await asyncio.gather(*(register(http, limited, address) for _ in range(6)))
        made = [a for a in answers if not a.json().get("errors")]
        refused = [a.json()["errors"][0] for a in answers if a.json().get("errors")]
        assert len(made) == 3
        assert {e["extensions"]["code"] for e in refused} == {"RATE_LIMITED"}
        assert all(e["extensions"]["retryAfter"] > 0 for e in refused)
        other = await register(http, limited, "198.51.100.7")  # another address is not held up
        assert not other.json().get("errors")


@pytest.fixture
async def uploader(server: Server) -> AsyncIterator[Client]:
    from tests.conftest import new_user

    client = await new_user(server.base_url)
    yield client
    await client.close()


CONFIRM = "mutation($id: ID!) { confirmUpload(jobId: $id) { id } }"


async def test_an_upload_form_is_good_for_one_upload(server: Server, uploader: Client) -> None:
    """Embedded: a second POST answers 409 and stores nothing. S3 accepts any POST of a
    valid presigned form; there the replay must change nothing the job uses."""
    png = encode(quadrants(), "PNG")
    ticket = await request_ticket(uploader)
    embedded = ticket["url"].endswith("/uploads")
    assert await post_form(uploader, ticket, png) == 204
    if embedded:  # before acceptance too: the file is there
        assert await post_form(uploader, ticket, encode(quadrants(), "BMP")) == 409
    job_id = ticket["job"]["id"]
    await uploader.execute(
        "mutation($id: ID!) { confirmUpload(jobId: $id) { id } }", {"id": job_id}
    )
    final = (await uploader.watch(job_id))[-1]
    assert final["status"] == "SUCCEEDED"
    assert final["source"]["format"] == "PNG"
    replay = await post_form(uploader, ticket, encode(quadrants(), "BMP"))
    assert replay == 409 if embedded else replay in (200, 201, 204)
    await uploader.execute(
        "mutation($id: ID!) { confirmUpload(jobId: $id) { id } }", {"id": job_id}
    )
    after = await uploader.job(job_id)
    assert after is not None
    assert after["status"] == "SUCCEEDED"
    assert after["source"]["format"] == "PNG"
    source = await uploader.http.get(after["source"]["url"])
    assert source.content == png  # the stored source is the checked file
    assert "Traceback" not in server.log()
