"""Accounts through the real API: register, login, and what a token grants."""

from __future__ import annotations

import uuid

import pytest

from tests.client import Client, GraphQLErrors
from tests.conftest import Server

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
