"""IMGFLOW_ENVIRONMENT=production: no GraphiQL, no introspection, CORS only for the
listed origins, and no process starts with a missing, short or placeholder secret.
Development stays open (the shared `server` fixture)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from tests.api.test_query_limits import ws_refusal
from tests.client import Client
from tests.conftest import Server, free_port, new_user, start_server, stop_server

LISTED = "https://app.example"
UNLISTED = "https://evil.example"
PRODUCTION = {
    "IMGFLOW_ENVIRONMENT": "production",
    "IMGFLOW_JWT_SECRET": secrets.token_urlsafe(48),
    "IMGFLOW_CORS_ORIGINS": LISTED,
}
HTML = {"accept": "text/html"}
ASSET = "/_graphiql/react-18.2.0-react.production.min.js"
INTROSPECTION = "{ __schema { queryType { name } } }"


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("production"), PRODUCTION)
    yield server
    stop_server(server)
    assert "Traceback" not in server.log(), server.tracebacks()


@pytest.fixture
async def user(production: Server) -> AsyncIterator[Client]:
    client = await new_user(production.base_url)
    yield client
    await client.close()


def preflight(base_url: str, origin: str) -> httpx.Response:
    headers = {
        "origin": origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
    }
    return httpx.options(f"{base_url}/graphql", headers=headers)


async def test_graphiql_is_off(production: Server, server: Server) -> None:
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{production.base_url}/graphql", headers=HTML)).status_code == 404
        assert (await http.get(f"{production.base_url}{ASSET}")).status_code == 404
        assert (await http.get(f"{server.base_url}/graphql", headers=HTML)).status_code == 200
        assert (await http.get(f"{server.base_url}{ASSET}")).status_code == 200


@pytest.mark.parametrize("query", [INTROSPECTION, '{ __type(name: "Job") { name } }'])
async def test_introspection_is_refused_with_a_code(user: Client, query: str) -> None:
    body = await user.raw(query)
    assert body.get("data") is None
    assert [error["extensions"]["code"] for error in body["errors"]] == ["INTROSPECTION_DISABLED"]
    assert (await user.execute("{ __typename me { email } }"))["__typename"] == "Query"


async def test_introspection_is_refused_over_websocket(user: Client) -> None:
    assert await ws_refusal(user, INTROSPECTION) == ["INTROSPECTION_DISABLED"]


async def test_development_answers_introspection(client: Client) -> None:
    data = await client.execute(INTROSPECTION)
    assert data["__schema"]["queryType"]["name"] == "Query"


def test_cors_only_for_listed_origins(production: Server) -> None:
    refused = preflight(production.base_url, UNLISTED)
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers

    allowed = preflight(production.base_url, LISTED)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == LISTED
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in allowed.headers

    simple = httpx.post(
        f"{production.base_url}/graphql",
        json={"query": "{ __typename }"},
        headers={"origin": UNLISTED},
    )
    assert simple.status_code == 200  # answered, but the browser keeps it from the page
    assert "access-control-allow-origin" not in simple.headers


async def test_websocket_only_from_listed_origins(production: Server) -> None:
    url = production.base_url.replace("http", "ws", 1) + "/graphql"
    with pytest.raises(websockets.InvalidStatus):
        await websockets.connect(url, subprotocols=["graphql-transport-ws"], origin=UNLISTED)
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"], origin=LISTED) as ws:
        assert ws.subprotocol == "graphql-transport-ws"


def test_development_allows_any_origin(server: Server) -> None:
    response = preflight(server.base_url, UNLISTED)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"


BAD_SECRETS = ["", "short", "change-me-change-me-change-me-change-me"]


def start_refused(workdir: Path, command: str, secret: str) -> subprocess.CompletedProcess[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGFLOW_")}
    env.update(
        IMGFLOW_ENVIRONMENT="production",
        IMGFLOW_JWT_SECRET=secret,
        # api and worker want a shared broker before anything else; never reached.
        IMGFLOW_BROKER_URL="amqp://guest:guest@127.0.0.1:1/",
    )
    args = [] if command == "cron" else ["--port", str(free_port())]
    return subprocess.run(
        [sys.executable, "-m", "imgflow.cli", command, *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("secret", BAD_SECRETS)
def test_serve_refuses_to_start_without_a_real_secret(tmp_path: Path, secret: str) -> None:
    finished = start_refused(tmp_path, "serve", secret)
    assert finished.returncode != 0
    assert "IMGFLOW_JWT_SECRET" in finished.stderr
    assert "Traceback" not in finished.stderr
    assert not (tmp_path / "imgflow-data").exists()  # no secret generated, nothing migrated


@pytest.mark.parametrize("command", ["api", "worker", "cron"])
def test_every_process_refuses_a_placeholder_secret(tmp_path: Path, command: str) -> None:
    finished = start_refused(tmp_path, command, BAD_SECRETS[-1])
    assert finished.returncode != 0
    assert "placeholder" in finished.stderr
