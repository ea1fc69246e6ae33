"""Per-user limits hold across API processes: two `imgflow api` sharing one Redis count
one user's submissions, WebSockets and subscriptions together, so a balancer spreading
a user over processes gives them no more than one process would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.test_limits import WATCH, Socket, code, error_code, refusal
from tests.api.test_uploads import request_ticket
from tests.client import Client
from tests.conftest import Server, migrate, new_user, start_imgflow, stop_server

LIMITS = {
    "IMGFLOW_SUBMISSIONS_PER_MINUTE": "3",
    "IMGFLOW_MAX_CONNECTIONS_PER_USER": "3",
    "IMGFLOW_MAX_SUBSCRIPTIONS_PER_USER": "2",
}


@pytest.fixture
def apis(backend: dict[str, str], tmp_path: Path) -> Iterator[list[Server]]:
    # The run's namespace: its queues exist already, and these processes publish nothing.
    env = {**backend, **LIMITS}
    migrate(env, tmp_path)
    started: list[Server] = []
    try:
        for index in range(2):
            started.append(start_imgflow(tmp_path / f"api{index}", env, "api"))
        yield started
    finally:
        for server in started:
            stop_server(server)
    for server in started:
        assert "Traceback" not in server.log(), server.tracebacks()


@pytest.mark.parametrize("backend", ["services"], indirect=True)
async def test_limits_hold_across_two_api_processes(apis: list[Server]) -> None:
    first, second = apis
    on_first = await new_user(first.base_url)
    on_second = Client(second.base_url, token=on_first.token)

    waiting = (await request_ticket(on_first))["job"]["id"]
    for client in (on_second, on_first):
        await request_ticket(client)
    for client in (on_first, on_second):
        assert code(await refusal(request_ticket(client))) == "RATE_LIMITED"

    sockets = [
        (await Socket.open(server.base_url, on_first.token))[0] for server in (first, second)
    ]
    for socket in sockets:
        op_id = await socket.subscribe(WATCH, {"id": waiting})
        assert error_code(await socket.reply(op_id)) is None
    over = await sockets[0].subscribe(WATCH, {"id": waiting})
    assert error_code(await sockets[0].reply(over)) == "TOO_MANY_SUBSCRIPTIONS"

    third, answer = await Socket.open(first.base_url, on_first.token)
    assert answer == {"type": "connection_ack"}
    for server in (second, first):
        _, refused = await Socket.open(server.base_url, on_first.token)
        assert refused["closed"] == 4429
    for socket in (*sockets, third):
        await socket.close()
    await on_first.close()
    await on_second.close()
