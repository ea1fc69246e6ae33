"""GraphiQL at GET /graphql works offline: the page only references locally served assets."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import shutil
from collections.abc import AsyncIterator, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
import strawberry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route, WebSocketRoute
from strawberry.asgi import GraphQL

import imgflow.web.graphiql as graphiql_mod
from imgflow.web.graphiql import GraphiQLAssetsError, assets_routes, graphiql_html

HTML_HEADERS = {"accept": "text/html"}


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "world"


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def count(self, to: int) -> AsyncIterator[int]:
        for i in range(to):
            yield i


schema = strawberry.Schema(query=Query, subscription=Subscription)


def make_app(prefix: str = "/_graphiql") -> Starlette:
    page = graphiql_html(prefix)  # at "startup": fails fast if an asset is missing

    class OfflineGraphQL(GraphQL[None, None]):
        async def render_graphql_ide(self, request: Request) -> Response:
            return HTMLResponse(page)

    view = OfflineGraphQL(schema)
    return Starlette(
        routes=[
            Route("/graphql", view),
            WebSocketRoute("/graphql", view),
            *assets_routes(prefix),
        ]
    )


class AssetRefs(HTMLParser):
    """Collects (tag, url, integrity) for every <script src> and <link href>."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        url = a.get("src") if tag == "script" else a.get("href") if tag == "link" else None
        if url is not None:
            self.refs.append((tag, url, a.get("integrity")))


def asset_refs(page: str) -> list[tuple[str, str, str | None]]:
    parser = AssetRefs()
    parser.feed(page)
    return [ref for ref in parser.refs if not ref[1].startswith("data:")]  # favicon


def sri_sha384(body: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def test_graphiql_page_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers=HTML_HEADERS)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<div id="graphiql"' in response.text
    assert "GraphiQL.createFetcher" in response.text


async def test_page_references_no_cdn(client: httpx.AsyncClient) -> None:
    page = (await client.get("/graphql", headers=HTML_HEADERS)).text
    refs = asset_refs(page)

    assert "unpkg" not in page
    assert "jsdelivr" not in page
    # react, react-dom, js-cookie, graphiql js+css, plugin-explorer js+css
    assert len(refs) == 7
    for _tag, url, _integrity in refs:
        assert "https://" not in url
        assert "http://" not in url
        assert url.startswith("/_graphiql/"), url


async def test_every_asset_is_served_and_matches_integrity(client: httpx.AsyncClient) -> None:
    page = (await client.get("/graphql", headers=HTML_HEADERS)).text

    for tag, url, integrity in asset_refs(page):
        response = await client.get(url)
        assert response.status_code == 200, url
        content_type = response.headers["content-type"]
        if tag == "script":
            assert "javascript" in content_type, (url, content_type)
        else:
            assert content_type.startswith("text/css"), (url, content_type)
        assert len(response.content) > 0
        assert "immutable" in response.headers["cache-control"]
        if integrity is not None:
            assert sri_sha384(response.content) == integrity, url


async def test_graphql_still_answers_queries(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ hello }"})

    assert response.json() == {"data": {"hello": "world"}}


async def test_custom_prefix() -> None:
    transport = httpx.ASGITransport(app=make_app("/static/graphiql/"))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        page = (await c.get("/graphql", headers=HTML_HEADERS)).text
        refs = asset_refs(page)
        assert refs
        for _tag, url, _integrity in refs:
            assert url.startswith("/static/graphiql/"), url
            assert (await c.get(url)).status_code == 200


class ASGIWebSocket:
    """Just enough of a WebSocket client to drive an ASGI app in-process."""

    def __init__(self, app: Starlette, path: str, headers: dict[str, str], subprotocol: str):
        self.to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "ws",
            "server": ("testserver", 80),
            "client": ("127.0.0.1", 50000),
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "subprotocols": [subprotocol],
        }
        self.task = asyncio.create_task(app(scope, self.to_app.get, self.from_app.put))

    async def connect(self) -> dict[str, Any]:
        await self.to_app.put({"type": "websocket.connect"})
        return await self.receive()

    async def receive(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.from_app.get(), timeout=5)

    async def send_json(self, data: dict[str, Any]) -> None:
        await self.to_app.put({"type": "websocket.receive", "text": json.dumps(data)})

    async def receive_json(self) -> dict[str, Any]:
        message = await self.receive()
        assert message["type"] == "websocket.send", message
        result: dict[str, Any] = json.loads(message["text"])
        return result

    async def close(self) -> None:
        await self.to_app.put({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(self.task, timeout=5)


async def test_subscriptions_over_the_pages_websocket_url() -> None:
    # The page subscribes on httpUrlToWebSockeUrl(location without query), i.e.
    # ws://<host>/graphql, with graphql-ws (graphql-transport-ws); browsers send Origin.
    ws = ASGIWebSocket(
        make_app(),
        "/graphql",
        headers={"host": "testserver", "origin": "http://testserver"},
        subprotocol="graphql-transport-ws",
    )
    accept = await ws.connect()
    assert accept["type"] == "websocket.accept"
    assert accept["subprotocol"] == "graphql-transport-ws"
    await ws.send_json({"type": "connection_init"})
    assert (await ws.receive_json())["type"] == "connection_ack"
    query = "subscription { count(to: 3) }"
    await ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": query}})
    values = []
    while (message := await ws.receive_json())["type"] == "next":
        values.append(message["payload"]["data"]["count"])
    assert message == {"id": "1", "type": "complete"}
    assert values == [0, 1, 2]
    await ws.close()


async def test_cross_origin_websocket_is_refused() -> None:
    # Same-origin only (strawberry's allowed_origins default): the page is fine, other sites not.
    ws = ASGIWebSocket(
        make_app(),
        "/graphql",
        headers={"host": "testserver", "origin": "https://evil.example"},
        subprotocol="graphql-transport-ws",
    )
    assert (await ws.connect())["type"] != "websocket.accept"
    await asyncio.wait_for(ws.task, timeout=5)


@pytest.fixture
def broken_assets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    assets = tmp_path / "assets"
    shutil.copytree(graphiql_mod.ASSETS_DIR, assets)
    monkeypatch.setattr(graphiql_mod, "ASSETS_DIR", assets)
    monkeypatch.setattr(graphiql_mod, "_MANIFEST", assets / "VERSIONS")
    graphiql_mod.graphiql_assets.cache_clear()
    graphiql_mod.graphiql_html.cache_clear()
    yield assets
    graphiql_mod.graphiql_assets.cache_clear()
    graphiql_mod.graphiql_html.cache_clear()


def test_missing_asset_fails_at_startup(broken_assets: Path) -> None:
    next(broken_assets.glob("graphiql-*.min.js")).unlink()

    with pytest.raises(GraphiQLAssetsError, match=r"graphiql.*missing.*vendor-graphiql"):
        graphiql_html()


def test_unvendored_cdn_url_fails_at_startup(broken_assets: Path) -> None:
    manifest = broken_assets / "VERSIONS"
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join(line for line in lines if "react-dom" not in line) + "\n")

    with pytest.raises(GraphiQLAssetsError, match=r"react-dom@18.*not vendored"):
        graphiql_html()


def test_the_page_opens_on_an_example_that_runs_against_imgflows_schema() -> None:
    from graphql import parse, validate

    from resolvers.schema import schema as imgflow_schema

    page = graphiql_html()
    example = graphiql_mod.EXAMPLE_FILE.read_text()
    assert f"const EXAMPLE_QUERY = `{example}`;" in page
    assert "Welcome to GraphiQL" not in page
    assert '{"Authorization": "Bearer <the token>"}' in example
    assert validate(imgflow_schema._schema, parse(example)) == []
