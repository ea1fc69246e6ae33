"""Per-user limits through the real API, on each backend mix (in-process counts, or
Redis): each limit is hit, answers its code, and leaves nothing half-done.

One server with small limits serves the module; every test has users of its own, and
sign-in tests come from addresses of their own (X-Forwarded-For, which uvicorn trusts
from the loopback proxy address the tests connect from).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import boto3
import pytest
import websockets

from tests.api.test_job_control import cancel, finished, retry, truncated_jpeg
from tests.api.test_jobs import job_ids
from tests.api.test_uploads import request_ticket
from tests.client import Client, GraphQLErrors
from tests.conftest import Server, new_user, start_server, stop_server
from tests.imaging import quadrants
from tests.imaging import to_bytes as encode

PNG = encode(quadrants(), "PNG")
ROTATE = [{"rotate": {"degrees": 90}}]
LIMITS = {
    "IMGFLOW_SUBMISSIONS_PER_MINUTE": "6",
    "IMGFLOW_MAX_ACTIVE_JOBS": "2",
    "IMGFLOW_LOGIN_FAILURES_PER_ACCOUNT": "3",
    "IMGFLOW_LOGIN_FAILURES_PER_ADDRESS": "5",
    "IMGFLOW_LOGIN_WINDOW_SECONDS": "60",
    "IMGFLOW_MAX_CONNECTIONS_PER_USER": "2",
    "IMGFLOW_MAX_SUBSCRIPTIONS_PER_USER": "2",
}
PASSWORD = "correct horse battery"
LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"
WATCH = "subscription($id: ID!) { jobUpdated(id: $id) { id status } }"


@pytest.fixture(scope="module")
def limited_env(backend: dict[str, str]) -> dict[str, str]:
    env = {**backend, **LIMITS}
    if "IMGFLOW_STORAGE_URL" in backend:
        # Queues and files of its own: objects this server did not write cannot appear
        # in its storage while a test looks for half-done work.
        run = uuid.uuid4().hex[:8]
        bucket = backend["IMGFLOW_STORAGE_URL"].removeprefix("s3://").split("/")[0]
        env["IMGFLOW_NAMESPACE"] = f"limits-{run}"
        env["IMGFLOW_STORAGE_URL"] = f"s3://{bucket}/limits-{run}"
    return env


@pytest.fixture(scope="module")
def limited(
    limited_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("limited"), limited_env)
    yield server
    stop_server(server)
    assert "Traceback" not in server.log(), server.tracebacks()


@pytest.fixture
async def user(limited: Server) -> AsyncIterator[Client]:
    client = await new_user(limited.base_url)
    yield client
    await client.close()


def stored_keys(server: Server, env: dict[str, str]) -> set[str]:
    """Every object in the server's storage, wherever it keeps them."""
    url = env.get("IMGFLOW_STORAGE_URL")
    if url is None:
        root = server.workdir / "imgflow-data" / "files"
        return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    s3 = boto3.client(
        "s3",
        endpoint_url=env["IMGFLOW_S3_ENDPOINT_URL"],
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/")
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


async def refusal(call: Any) -> dict[str, Any]:
    """The one error a refused call answers with."""
    with pytest.raises(GraphQLErrors) as caught:
        await call
    [error] = caught.value.errors
    return dict(error)


def code(error: dict[str, Any]) -> str:
    return str(error["extensions"]["code"])


# -- submissions per minute ------------------------------------------------------------


async def test_submissions_per_minute_count_both_mutations(
    user: Client, limited: Server, limited_env: dict[str, str]
) -> None:
    ended = await user.submit(truncated_jpeg(), ROTATE)  # fails fast: no longer active
    assert (await finished(user, ended["id"]))["status"] == "FAILED"
    for _ in range(5):  # cancelled at once: only the rate limit is in play
        await cancel(user, (await request_ticket(user))["job"]["id"])
    jobs_before, stored_before = await job_ids(user), stored_keys(limited, limited_env)
    assert len(jobs_before) == 6

    for call in (request_ticket(user), user.submit(PNG, ROTATE)):
        error = await refusal(call)
        assert code(error) == "RATE_LIMITED"
        assert 0 < error["extensions"]["retryAfter"] <= 60
    assert await job_ids(user) == jobs_before
    assert stored_keys(limited, limited_env) == stored_before


async def test_submission_rate_is_per_user(user: Client, limited: Server) -> None:
    other = await new_user(limited.base_url)
    for _ in range(6):
        await cancel(user, (await request_ticket(user))["job"]["id"])
    assert code(await refusal(request_ticket(user))) == "RATE_LIMITED"
    await cancel(other, (await request_ticket(other))["job"]["id"])
    await other.close()


# -- active jobs -----------------------------------------------------------------------


async def test_active_jobs_limit_refuses_new_and_retried_jobs(
    user: Client, limited: Server, limited_env: dict[str, str]
) -> None:
    broken = await user.submit(truncated_jpeg(), ROTATE)
    assert (await finished(user, broken["id"]))["status"] == "FAILED"
    waiting = [(await request_ticket(user))["job"]["id"] for _ in range(2)]
    jobs_before, stored_before = await job_ids(user), stored_keys(limited, limited_env)

    for call in (user.submit(PNG, ROTATE), request_ticket(user), retry(user, broken["id"])):
        assert code(await refusal(call)) == "TOO_MANY_ACTIVE_JOBS"
    assert await job_ids(user) == jobs_before
    assert (await user.job(broken["id"]) or {})["status"] == "FAILED"
    assert stored_keys(limited, limited_env) == stored_before

    await cancel(user, waiting[0])  # a job that ends frees its place
    assert (await retry(user, broken["id"]))["status"] == "QUEUED"


# -- sign-in attempts ------------------------------------------------------------------


def addresses() -> Iterator[str]:
    """Documentation-range addresses, fresh for each caller."""
    base = uuid.uuid4().int
    for index in range(1000):
        yield f"2001:db8:{base % 0xFFFF:x}:{index:x}::1"


async def login(client: Client, email: str, password: str, address: str) -> dict[str, Any]:
    response = await client.http.post(
        f"{client.base_url}/graphql",
        json={"query": LOGIN, "variables": {"e": email, "p": password}},
        headers={"X-Forwarded-For": address},
    )
    return dict(response.json())


def outcome(body: dict[str, Any]) -> tuple[str, str]:
    """`ok`, or the error's code and message (retryAfter aside: it is a clock reading)."""
    if not body.get("errors"):
        return ("ok", "")
    [error] = body["errors"]
    return (code(error), error["message"].split("; try again")[0])


async def test_failed_sign_ins_lock_an_account_alike_whether_it_exists_or_not(
    limited: Server,
) -> None:
    known = await new_user(limited.base_url)
    email = (await known.execute("{ me { email } }"))["me"]["email"]
    unknown = f"nobody-{uuid.uuid4().hex[:12]}@example.com"
    fresh = addresses()  # a new address per attempt: only the account limit applies
    seen: dict[str, list[tuple[str, str]]] = {}
    for account in (email, unknown):
        attempts = ["wrong password 1", "wrong password 2", "wrong password 3", PASSWORD]
        bodies = [await login(known, account, p, next(fresh)) for p in attempts]
        seen[account] = [outcome(body) for body in bodies]
        assert 0 < bodies[-1]["errors"][0]["extensions"]["retryAfter"] <= 60

    failed = ("INVALID_CREDENTIALS", "email or password is wrong")
    assert seen[email] == [
        failed,
        failed,
        failed,
        ("RATE_LIMITED", "too many failed sign-in attempts"),
    ]
    assert seen[unknown] == seen[email]  # nothing tells the two apart
    other_account = await new_user(limited.base_url)
    other_email = (await other_account.execute("{ me { email } }"))["me"]["email"]
    assert outcome(await login(known, other_email, PASSWORD, next(fresh))) == ("ok", "")
    await known.close()
    await other_account.close()


async def test_failed_sign_ins_from_one_address_are_limited(limited: Server) -> None:
    client = await new_user(limited.base_url)
    email = (await client.execute("{ me { email } }"))["me"]["email"]
    here = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
    elsewhere = f"203.0.113.{uuid.uuid4().int % 250 + 1}"
    for _ in range(6):  # successes do not count
        assert outcome(await login(client, email, PASSWORD, here)) == ("ok", "")
    for index in range(5):  # five accounts, one failure each: the address limit
        stranger = f"stranger-{index}-{uuid.uuid4().hex[:8]}@example.com"
        assert outcome(await login(client, stranger, "wrong password", here))[0] == (
            "INVALID_CREDENTIALS"
        )
    assert outcome(await login(client, email, PASSWORD, here))[0] == "RATE_LIMITED"
    assert outcome(await login(client, email, PASSWORD, elsewhere)) == ("ok", "")
    await client.close()


# -- WebSocket connections and subscriptions -------------------------------------------


class Socket:
    """A raw graphql-transport-ws connection, several operations on it at once."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.pending: list[dict[str, Any]] = []

    @classmethod
    async def open(
        cls, base_url: str, token: str | None, protocol: str = "graphql-transport-ws"
    ) -> tuple[Socket, dict[str, Any]]:
        """The connection and the server's answer to connection_init: its first
        message, or {"closed": code, "reason": ...} when it closed instead."""
        url = base_url.replace("http", "ws", 1) + "/graphql"
        ws = await websockets.connect(url, subprotocols=[protocol])
        init: dict[str, Any] = {"type": "connection_init", "payload": {}}
        if token:
            init["payload"] = {"Authorization": f"Bearer {token}"}
        await ws.send(json.dumps(init))
        try:
            return cls(ws), json.loads(await asyncio.wait_for(ws.recv(), 5))
        except websockets.ConnectionClosed as closed:
            frame = closed.rcvd
            return cls(ws), {"closed": frame and frame.code, "reason": frame and frame.reason}

    async def subscribe(self, query: str, variables: dict[str, Any]) -> str:
        op_id = uuid.uuid4().hex
        payload = {"query": query, "variables": variables}
        await self.ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))
        return op_id

    async def complete(self, op_id: str) -> None:
        await self.ws.send(json.dumps({"id": op_id, "type": "complete"}))

    async def reply(self, op_id: str) -> dict[str, Any]:
        """The next message for this operation."""
        while True:
            for message in self.pending:
                if message.get("id") == op_id:
                    self.pending.remove(message)
                    return message
            self.pending.append(json.loads(await asyncio.wait_for(self.ws.recv(), 5)))

    async def close(self) -> None:
        await self.ws.close()


def error_code(message: dict[str, Any]) -> str | None:
    """The code a subscription answered with, or None if it sent data."""
    payload = message["payload"]
    errors = payload if message["type"] == "error" else payload.get("errors")
    return code(errors[0]) if errors else None


async def test_websockets_per_user_are_limited_and_given_back(
    user: Client, limited: Server
) -> None:
    first, answer = await Socket.open(limited.base_url, user.token)
    second, again = await Socket.open(limited.base_url, user.token)
    assert answer == again == {"type": "connection_ack"}

    third, refused = await Socket.open(limited.base_url, user.token)
    assert refused["closed"] == 4429
    assert refused["reason"].startswith("TOO_MANY_CONNECTIONS: ")
    legacy, refused = await Socket.open(limited.base_url, user.token, "graphql-ws")
    assert refused["type"] == "connection_error"
    assert refused["payload"]["extensions"]["code"] == "TOO_MANY_CONNECTIONS"
    other = await new_user(limited.base_url)
    theirs, answer = await Socket.open(limited.base_url, other.token)
    assert answer == {"type": "connection_ack"}

    await first.close()  # gives its place back; the refused ones held none
    replacement = await eventually_accepted(limited.base_url, user.token)
    _, refused = await Socket.open(limited.base_url, user.token)
    assert refused["closed"] == 4429
    for socket in (second, third, legacy, theirs, replacement):
        await socket.close()
    await other.close()


async def eventually_accepted(base_url: str, token: str | None) -> Socket:
    """A place is given back when the server has seen the close: shortly after."""
    deadline = time.monotonic() + 5
    while True:
        socket, answer = await Socket.open(base_url, token)
        if answer.get("type") == "connection_ack":
            return socket
        assert time.monotonic() < deadline, answer
        await asyncio.sleep(0.1)


async def accepted_soon(socket: Socket, job_id: str) -> str:
    """Subscribes until the server accepts (a released place frees shortly after)."""
    deadline = time.monotonic() + 5
    while True:
        op_id = await socket.subscribe(WATCH, {"id": job_id})
        reply = await socket.reply(op_id)
        if error_code(reply) is None:
            return op_id
        assert error_code(reply) == "TOO_MANY_SUBSCRIPTIONS", reply
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)


async def test_subscriptions_per_user_are_limited_and_given_back_however_they_end(
    user: Client, limited: Server
) -> None:
    waiting = (await request_ticket(user))["job"]["id"]
    socket, _ = await Socket.open(limited.base_url, user.token)
    running = [await socket.subscribe(WATCH, {"id": waiting}) for _ in range(2)]
    for op_id in running:
        assert (await socket.reply(op_id))["payload"]["data"]["jobUpdated"]["id"] == waiting
    over = await socket.subscribe(WATCH, {"id": waiting})
    assert error_code(await socket.reply(over)) == "TOO_MANY_SUBSCRIPTIONS"

    await socket.complete(running[0])  # stopped by the client
    running[0] = await accepted_soon(socket, waiting)
    await socket.close()  # both end with the connection
    socket = await eventually_accepted(limited.base_url, user.token)
    running = [await accepted_soon(socket, waiting) for _ in range(2)]

    await cancel(user, waiting)  # both complete by themselves at the terminal state
    for op_id in running:
        while (await socket.reply(op_id))["type"] != "complete":
            pass
    for _ in range(3):  # a subscription to a finished job ends at once
        op_id = await accepted_soon(socket, waiting)
        assert (await socket.reply(op_id))["type"] == "complete"
    await socket.close()
