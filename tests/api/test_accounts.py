"""Accounts through the real API: register, login, and what a token grants."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.test_tokens import run_sql
from tests.client import Client, GraphQLErrors
from tests.conftest import Server, start_server, stop_server
from tests.e2e.outbound import own_database

REGISTER = """mutation($e: String!, $p: String!) {
  register(email: $e, password: $p) { token expiresAt user { id email } } }"""
LOGIN = (
    "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token user { email } } }"
)


def email() -> str:
    return f"Someone-{uuid.uuid4().hex[:10]}@Example.com"


async def test_register_then_login_returns_working_tokens(server: Server) -> None:
    client = Client(server.base_url)
    address = email()
    registered = (await client.execute(REGISTER, {"e": address, "p": "long enough pw"}))["register"]
    assert registered["user"]["email"] == address.lower()
    logged_in = (await client.execute(LOGIN, {"e": address.upper(), "p": "long enough pw"}))[
        "login"
    ]
    client.token = logged_in["token"]
    me = (await client.execute("{ me { id email } }"))["me"]
    assert me == registered["user"]
    await client.close()


@pytest.mark.parametrize(
    ("address", "password", "code"),
    [
        ("not-an-email", "long enough pw", "BAD_USER_INPUT"),
        ("a@example.com", "short", "BAD_USER_INPUT"),
    ],
)
async def test_register_refuses_bad_input(
    server: Server, address: str, password: str, code: str
) -> None:
    client = Client(server.base_url)
    with pytest.raises(GraphQLErrors) as caught:
        await client.execute(REGISTER, {"e": address, "p": password})
    assert caught.value.codes == [code]
    await client.close()


async def test_register_twice_is_refused(server: Server) -> None:
    client = Client(server.base_url)
    address = email()
    await client.execute(REGISTER, {"e": address, "p": "long enough pw"})
    with pytest.raises(GraphQLErrors) as caught:
        await client.execute(REGISTER, {"e": address.lower(), "p": "another password"})
    assert caught.value.codes == ["EMAIL_TAKEN"]
    await client.close()


@pytest.mark.parametrize("known_user", [True, False])
async def test_login_with_wrong_credentials_says_nothing_more(
    server: Server, known_user: bool
) -> None:
    client = Client(server.base_url)
    address = email()
    if known_user:
        await client.execute(REGISTER, {"e": address, "p": "long enough pw"})
    with pytest.raises(GraphQLErrors) as caught:
        await client.execute(LOGIN, {"e": address, "p": "wrong password!"})
    assert caught.value.codes == ["INVALID_CREDENTIALS"]
    await client.close()


@pytest.mark.parametrize("token", [None, "garbage", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.bad"])
async def test_queries_need_a_valid_token(server: Server, token: str | None) -> None:
    client = Client(server.base_url, token=token)
    for query in ("{ me { id } }", "{ jobs { edges { cursor } } }", '{ job(id: "x") { id } }'):
        with pytest.raises(GraphQLErrors) as caught:
            await client.execute(query)
        assert caught.value.codes == ["UNAUTHENTICATED"]
    await client.close()


async def test_subscription_needs_a_valid_token(server: Server) -> None:
    client = Client(server.base_url)
    with pytest.raises(GraphQLErrors) as caught:
        await client.watch("anything")
    assert caught.value.codes == ["UNAUTHENTICATED"]
    await client.close()


async def stored_hash(server: Server, env: dict[str, str], address: str) -> str:
    """The account's password hash, read from the database as an operator would."""
    select = "SELECT password_hash FROM users WHERE email = $1"
    return str(await run_sql(server, env, select, address))


@pytest.fixture
def env(backend: dict[str, str]) -> Iterator[dict[str, str]]:
    """The backend mix with a database of its own, for servers of one test."""
    with own_database(backend) as settings:
        yield settings


async def test_a_changed_password_profile_rehashes_at_the_next_sign_in(
    env: dict[str, str], tmp_path: Path
) -> None:
    address = email().lower()
    server = start_server(tmp_path, {**env, "IMGFLOW_PASSWORD_PROFILE": "owasp-minimum"})
    client = Client(server.base_url)
    try:
        await client.execute(REGISTER, {"e": address, "p": "long enough pw"})
        assert "$argon2id$v=19$m=19456,t=2,p=1$" in await stored_hash(server, env, address)
    finally:
        await client.close()
        stop_server(server)
    # The default profile, as an operator's upgrade would bring it.
    server = start_server(tmp_path, {**env, "IMGFLOW_PASSWORD_PROFILE": "rfc9106-low-memory"})
    client = Client(server.base_url)
    try:
        wrong = await client.raw(LOGIN, {"e": address, "p": "not the password"})
        assert wrong["errors"][0]["extensions"]["code"] == "INVALID_CREDENTIALS"
        assert "m=19456,t=2,p=1$" in await stored_hash(server, env, address)
        await client.execute(LOGIN, {"e": address, "p": "long enough pw"})
        assert "$argon2id$v=19$m=65536,t=3,p=4$" in await stored_hash(server, env, address)
        await client.execute(LOGIN, {"e": address, "p": "long enough pw"})  # the new hash
    finally:
        await client.close()
        stop_server(server)
