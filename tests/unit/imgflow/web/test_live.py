"""The live page's HTTP side, in-process: what is served, under which Content-Security-
Policy, in both environments. (tests/browser/test_live_page.py drives it in Chromium.)"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from html.parser import HTMLParser

import httpx
import pytest

from imgflow.app import create_app
from imgflow.settings import Settings
from imgflow.web.graphiql import graphiql_assets
from imgflow.web.live import STATIC_DIR, content_security_policy

SECRET = secrets.token_urlsafe(48)
GRAPHIQL_ASSET = f"/_graphiql/{graphiql_assets()[0].file}"


class PageParts(HTMLParser):
    """What the page loads, and anything that would need 'unsafe-inline'."""

    def __init__(self) -> None:
        super().__init__()
        self.resources: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        self.inline += [
            f"{tag} {name}" for name, _ in attrs if name == "style" or name.startswith("on")
        ]
        if tag == "style":
            self.inline.append("<style>")
        if tag == "script":
            self._in_script = True
            self.resources.append(named.get("src") or "")
        elif tag == "link" and named.get("href"):
            self.resources.append(named["href"] or "")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("<script> with a body")


def parse_policy(header: str) -> dict[str, list[str]]:
    return {name: values for name, *values in (d.split() for d in header.split(";"))}


def policy(response: httpx.Response) -> dict[str, list[str]]:
    return parse_policy(response.headers["content-security-policy"])


def policy_of(settings: Settings, host: str) -> dict[str, list[str]]:
    return parse_policy(content_security_policy(settings, host))


def http(settings: Settings) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(settings))
    return httpx.AsyncClient(transport=transport, base_url="http://api.test:8000")


@pytest.fixture
async def development() -> AsyncIterator[httpx.AsyncClient]:
    async with http(Settings(jwt_secret=SECRET)) as client:
        yield client


async def test_page_is_served_under_a_strict_policy(development: httpx.AsyncClient) -> None:
    response = await development.get("/live")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    rules = policy(response)
    assert rules["default-src"] == ["'none'"]
    assert rules["script-src"] == ["'self'"]
    assert rules["style-src"] == ["'self'"]
    assert rules["connect-src"] == ["'self'", "ws://api.test:8000", "wss://api.test:8000"]
    assert rules["img-src"] == ["'self'", "blob:", "https:"]
    assert rules["frame-ancestors"] == ["'none'"]
    assert "unsafe" not in response.headers["content-security-policy"]


async def test_page_needs_nothing_inline_and_loads_only_its_own_files(
    development: httpx.AsyncClient,
) -> None:
    parts = PageParts()
    parts.feed((await development.get("/live")).text)

    assert parts.inline == []
    assert sorted(parts.resources) == [
        "live/static/icon.svg",
        "live/static/live.css",
        "live/static/live.js",
    ]
    for resource in parts.resources:
        response = await development.get(f"/{resource}")
        assert response.status_code == 200, resource
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_every_module_is_served_as_javascript(development: httpx.AsyncClient) -> None:
    modules = sorted(path.name for path in STATIC_DIR.glob("*.js"))
    imported = set()
    for name in modules:
        response = await development.get(f"/live/static/{name}")
        assert response.headers["content-type"].startswith("text/javascript"), name
        imported |= set(re.findall(r'from "\./([\w-]+\.js)"', response.text))
    assert imported <= set(modules)
    assert {"graphql.js", "documents.js", "jobs.js", "operations.js"} <= imported


def test_scripts_never_write_markup() -> None:
    # Server data reaches the page through textContent and attributes only.
    sinks = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|Function\("
    )
    for path in STATIC_DIR.glob("*.js"):
        assert not sinks.findall(path.read_text()), path.name


async def test_production_keeps_the_page_and_drops_graphiql() -> None:
    settings = Settings(
        environment="production", jwt_secret=SECRET, cors_origins="https://a.example"
    )
    async with http(settings) as production:
        assert (await production.get("/live")).status_code == 200
        assert (await production.get("/live/static/live.js")).status_code == 200
        assert (await production.get(GRAPHIQL_ASSET)).status_code == 404


async def test_graphiql_assets_are_untouched(development: httpx.AsyncClient) -> None:
    # (The GraphiQL page itself needs the running services: tests/browser and
    # tests/api/test_production.py load it from a real server.)
    assert (await development.get(GRAPHIQL_ASSET)).status_code == 200
    assert (await development.get("/live/static/graphiql.min.js")).status_code == 404


def test_images_may_come_from_the_configured_storage_endpoints() -> None:
    settings = Settings(
        jwt_secret=SECRET,
        s3_endpoint_url="http://minio.internal:9000",
        public_url="https://images.example/api",
    )
    sources = policy_of(settings, "api.test")["img-src"]

    assert sources == [
        "'self'",
        "blob:",
        "https:",
        "http://minio.internal:9000",
        "http://*.minio.internal:9000",  # virtual-hosted buckets
        "https://images.example",
    ]
    moto = Settings(jwt_secret=SECRET, s3_endpoint_url="http://127.0.0.1:5000")
    assert policy_of(moto, "api.test")["img-src"][-1] == "http://127.0.0.1:5000"


@pytest.mark.parametrize(
    "host", ["evil.example; script-src *", "a b", "x'y", "", "[::1]:8000 'unsafe-inline'"]
)
def test_a_hostile_host_header_adds_nothing(host: str) -> None:
    rules = policy_of(Settings(jwt_secret=SECRET), host)
    assert rules["connect-src"] == ["'self'"]
    assert rules["script-src"] == ["'self'"]


def test_an_ipv6_host_is_named_for_websockets() -> None:
    rules = policy_of(Settings(jwt_secret=SECRET), "[::1]:8000")
    assert rules["connect-src"] == ["'self'", "ws://[::1]:8000", "wss://[::1]:8000"]
