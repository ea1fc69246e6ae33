"""Issue 14, WebSocket holes: a socket's credentials are checked again before every
operation and by a watchdog, a bad token is refused at `connection_init`, anonymous
sockets are capped per address, and the per-socket operation cap answers with a code.
On both backend mixes, on a server of their own with short intervals and small caps."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest

from tests.api.test_isolation import server_secret
from tests.api.test_limits import Socket, error_code
from tests.api.test_tokens import run_sql, token
from tests.client import Client
from tests.conftest import Server, new_user, start_server, stop_server

SETTINGS = {
    "IMGFLOW_WEBSOCKET_RECHECK_SECONDS": "1",
    "IMGFLOW_MAX_ANONYMOUS_CONNECTIONS_PER_ADDRESS": "2",
    "IMGFLOW_MAX_SUBSCRIPTIONS_PER_CONNECTION": "2",
}
WATCH_ALL = "subscription { jobsUpdated { id } }"
ME = "{ me { id } }"


@pytest.fixture(scope="module")
def sockets(backend: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {**backend, **SETTINGS}
    if "IMGFLOW_NAMESPACE" in backend:
        env["IMGFLOW_NAMESPACE"] = f"{backend['IMGFLOW_NAMESPACE']}-sockets-{uuid.uuid4().hex[:6]}"
    server = start_server(tmp_path_factory.mktemp("sockets"), env)
    yield server
    stop_server(server)
    assert "Traceback" not in server.log(), server.tracebacks()


@pytest.fixture
async def user(sockets: Server) -> AsyncIterator[Client]:
    client = await new_user(sockets.base_url)
    yield client
    await client.close()


async def user_id(client: Client) -> str:
    return str((await client.execute(ME))["me"]["id"])


async def closed_with(socket: Socket, within: float) -> tuple[list[dict[str, object]], int | None]:
    """Every message until the server closes the socket, and the close code."""
    messages: list[dict[str, object]] = []
    import json

    import websockets

    try:
        async with asyncio.timeout(within):
            while True:
                messages.append(json.loads(await socket.ws.recv()))
    except websockets.ConnectionClosed as closed:
        return messages, closed.rcvd.code if closed.rcvd else None
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    "change",
    ["UPDATE users SET disabled = true WHERE id = $1", "DELETE FROM users WHERE id = $1"],
    ids=["disabled", "deleted"],
)
async def test_a_running_subscription_ends_with_its_account(
    sockets: Server, backend: dict[str, str], user: Client, change: str
) -> None:
    socket, ack = await Socket.open(sockets.base_url, user.token)
    assert ack == {"type": "connection_ack"}
    op = await socket.subscribe(WATCH_ALL, {})
    await run_sql(sockets, backend, change, await user_id(user))
    messages, code = await closed_with(socket, within=10)
    assert code == 4401
    assert [m["id"] for m in messages] == [op]
    assert error_code(messages[0]) == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    "change",
    ["UPDATE users SET disabled = true WHERE id = $1", "DELETE FROM users WHERE id = $1"],
    ids=["disabled", "deleted"],
)
async def test_every_operation_on_a_socket_checks_the_account(
    sockets: Server, backend: dict[str, str], change: str
) -> None:
    # A long check interval: the operation itself must notice.
    user = await new_user(sockets.base_url)
    socket, _ = await Socket.open(sockets.base_url, user.token)
    await run_sql(sockets, backend, change, await user_id(user))
    await socket.subscribe(
        'mutation { requestUpload(filename: "a.png", contentType: "image/png", '
        "operations: [{rotate: {degrees: 90}}]) { job { id } } }",
        {},
    )
    messages, code = await closed_with(socket, within=10)
    assert code == 4401  # never INTERNAL_SERVER_ERROR, never a ticket
    assert all(error_code(m) == "UNAUTHENTICATED" for m in messages if "payload" in m)
    await user.close()


async def test_an_expiring_token_ends_its_subscriptions(sockets: Server, user: Client) -> None:
    short = token(server_secret(sockets), await user_id(user), timedelta(seconds=3))
    socket, ack = await Socket.open(sockets.base_url, short)
    assert ack == {"type": "connection_ack"}
    op = await socket.subscribe(WATCH_ALL, {})
    messages, code = await closed_with(socket, within=10)
    assert code == 4401
    assert [(m["id"], error_code(m)) for m in messages] == [(op, "UNAUTHENTICATED")]


async def test_a_bad_token_is_refused_at_init(sockets: Server, user: Client) -> None:
    secret = server_secret(sockets)
    uid = await user_id(user)
    for bad in ("not-a-token", token(secret, uid, timedelta(seconds=-5))):
        _, answer = await Socket.open(sockets.base_url, bad)
        assert answer["closed"] == 4403
        assert str(answer["reason"]).startswith("UNAUTHENTICATED: ")
        _, legacy = await Socket.open(sockets.base_url, bad, "graphql-ws")
        assert legacy["type"] == "connection_error"


async def test_anonymous_sockets_are_capped_per_address(sockets: Server) -> None:
    first, a = await Socket.open(sockets.base_url, None)
    second, b = await Socket.open(sockets.base_url, None)
    assert a == b == {"type": "connection_ack"}
    third, refused = await Socket.open(sockets.base_url, None)
    assert refused["closed"] == 4429
    assert str(refused["reason"]).startswith("TOO_MANY_CONNECTIONS: ")
    await first.close()
    await asyncio.sleep(0.5)  # the place is given back when the socket ends
    again, answer = await Socket.open(sockets.base_url, None)
    assert answer == {"type": "connection_ack"}
    for socket in (second, third, again):
        await socket.close()


async def test_the_per_socket_operation_cap_has_a_code(sockets: Server, user: Client) -> None:
    socket, _ = await Socket.open(sockets.base_url, user.token)
    for _ in range(2):
        await socket.subscribe(WATCH_ALL, {})
    third = await socket.subscribe(WATCH_ALL, {})
    assert error_code(await socket.reply(third)) == "TOO_MANY_SUBSCRIPTIONS"
    await socket.close()
