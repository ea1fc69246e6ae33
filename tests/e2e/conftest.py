"""Fixtures of the outbound end-to-end tests (webhooks, images by URL): a real HTTP
receiver on 127.0.0.1 and a real `imgflow serve` whose SSRF guard lets through that
port alone, on either backend mix with a database of its own."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.client import Client
from tests.conftest import Server, new_user, start_server, stop_server
from tests.e2e.outbound import outbound_env, own_database
from tests.receiver import Receiver, running_receiver


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def readme_port(backend: dict[str, str]) -> Iterator[socket.socket]:
    """Where the README's receiver example will listen, allowed like the test receiver:
    the port is held (bound, not listening) until the example starts, so no other
    process of the run takes it meanwhile."""
    hold = socket.socket()
    hold.bind(("127.0.0.1", 0))
    yield hold
    hold.close()


@pytest.fixture(scope="module")
def hooked(
    backend: dict[str, str],
    receiver: Receiver,
    readme_port: socket.socket,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    with own_database(backend) as env:
        settings = outbound_env(env, receiver, readme_port.getsockname()[1])
        server = start_server(tmp_path_factory.mktemp("hooks"), settings)
        yield server
        stop_server(server)
    assert "Traceback" not in server.log(), server.tracebacks()


@pytest.fixture
async def user(hooked: Server) -> AsyncIterator[Client]:
    client = await new_user(hooked.base_url)
    yield client
    await client.close()


@pytest.fixture
def fresh(backend: dict[str, str], receiver: Receiver) -> Iterator[dict[str, str]]:
    """Settings for processes of one test, with a database of their own."""
    with own_database(backend) as env:
        yield outbound_env(env, receiver)
