"""GraphiQL that works offline: strawberry's page with its CDN assets served locally.

strawberry's GraphiQL page loads React, ReactDOM, js-cookie, graphiql and
@graphiql/plugin-explorer from unpkg, so without internet access it never gets past
"Loading...". ``scripts/vendor-graphiql`` copies exactly those files (same versions,
fetched with ``npm pack``) into ``assets/`` and records them in ``assets/VERSIONS``;
this module rewrites the page to point at them and serves them.

Wiring::

    class GraphQLApp(GraphQL[Context, None]):
        async def render_graphql_ide(self, request: Request) -> Response:
            return HTMLResponse(graphiql_html())

    graphql_app = GraphQLApp(schema)
    routes = [
        Route("/graphql", graphql_app),
        WebSocketRoute("/graphql", graphql_app),  # subscriptions: the page uses ws(s)://<same URL>
        *assets_routes(),
    ]

Call :func:`graphiql_html` once at startup (e.g. in the app factory) so a missing or
stale asset fails fast rather than on the first GraphiQL request.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import os
import re
from dataclasses import dataclass
from pathlib import Path

from starlette.responses import Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope
from strawberry.http.ides import get_graphql_ide_html

__all__ = [
    "ASSETS_DIR",
    "DEFAULT_ASSETS_PREFIX",
    "GraphiQLAsset",
    "GraphiQLAssetsError",
    "assets_routes",
    "graphiql_assets",
    "graphiql_html",
]

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
DEFAULT_ASSETS_PREFIX = "/_graphiql"
IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable"

_MANIFEST = ASSETS_DIR / "VERSIONS"
_VENDOR_HINT = "run scripts/vendor-graphiql to (re)vendor the assets for the installed strawberry"
_CDN_URL_RE = re.compile(r"https://(?:unpkg\.com|cdn\.jsdelivr\.net/npm)/[^\"'\s<>]+")
# A <script> or <link> start tag; quoted attribute values may contain '>' (the favicon does).
_TAG_RE = re.compile(r"<(?:script|link)\b(?:[^>\"']|\"[^\"]*\"|'[^']*')*>", re.IGNORECASE)
_INTEGRITY_RE = re.compile(r"""\bintegrity\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+)""", re.IGNORECASE)
_SAFE_FILE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")


class GraphiQLAssetsError(RuntimeError):
    """The vendored GraphiQL assets are missing or don't match strawberry's page."""


@dataclass(frozen=True, slots=True)
class GraphiQLAsset:
    """One vendored file, as listed in ``assets/VERSIONS``."""

    file: str
    """File name inside :data:`ASSETS_DIR` (flat, includes the package version)."""
    package: str
    """``package@version`` it was extracted from."""
    source_url: str
    """The CDN URL strawberry's page uses for it."""
    integrity: str
    """``sha384-<base64>`` of the file as it is on disk."""


def _sha384(path: Path) -> str:
    digest = hashlib.sha384(path.read_bytes()).digest()
    return "sha384-" + base64.b64encode(digest).decode("ascii")


def _parse_manifest_line(line: str, lineno: int) -> GraphiQLAsset:
    fields = line.split("\t")
    if len(fields) != 5:
        raise GraphiQLAssetsError(f"{_MANIFEST}:{lineno}: expected 5 tab-separated fields")
    file, package, _path_in_package, _sha, source_url = fields
    if not _SAFE_FILE_RE.match(file):
        raise GraphiQLAssetsError(f"{_MANIFEST}:{lineno}: unsafe asset file name {file!r}")
    path = ASSETS_DIR / file
    if not path.is_file():
        raise GraphiQLAssetsError(f"GraphiQL asset {path} ({package}) is missing; {_VENDOR_HINT}")
    # Hash what is actually on disk, so the integrity attribute always matches what we serve.
    return GraphiQLAsset(file, package, source_url, _sha384(path))


@functools.cache
def graphiql_assets() -> tuple[GraphiQLAsset, ...]:
    """The vendored assets; raises :class:`GraphiQLAssetsError` if any file is missing."""
    try:
        text = _MANIFEST.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GraphiQLAssetsError(
            f"GraphiQL asset manifest {_MANIFEST} not found; {_VENDOR_HINT}"
        ) from None
    assets = tuple(
        _parse_manifest_line(line, lineno)
        for lineno, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.startswith("#")
    )
    if not assets:
        raise GraphiQLAssetsError(f"{_MANIFEST} lists no assets; {_VENDOR_HINT}")
    return assets


def _rewrite_tag(tag: str, by_url: dict[str, GraphiQLAsset], prefix: str) -> str:
    found: list[GraphiQLAsset] = []

    def local_url(match: re.Match[str]) -> str:
        url = html.unescape(match.group(0))
        asset = by_url.get(url)
        if asset is None:
            raise GraphiQLAssetsError(
                f"strawberry's GraphiQL page loads {url}, which is not vendored; {_VENDOR_HINT}"
            )
        found.append(asset)
        return html.escape(f"{prefix}/{asset.file}", quote=True)

    tag = _CDN_URL_RE.sub(local_url, tag)
    if len(found) == 1:
        tag = _INTEGRITY_RE.sub(f'integrity="{found[0].integrity}"', tag, count=1)
    return tag


@functools.cache
def graphiql_html(assets_prefix: str = DEFAULT_ASSETS_PREFIX) -> str:
    """strawberry's GraphiQL page with every CDN URL pointing at ``{assets_prefix}/<file>``.

    ``integrity`` attributes are recomputed from the local files. The result is cached
    per prefix. Raises :class:`GraphiQLAssetsError` if an asset is missing or the page
    references a CDN file that isn't vendored (e.g. after a strawberry upgrade).
    """
    prefix = assets_prefix.rstrip("/")
    by_url = {asset.source_url: asset for asset in graphiql_assets()}
    page = _TAG_RE.sub(
        lambda m: _rewrite_tag(m.group(0), by_url, prefix),
        with_example(get_graphql_ide_html(graphql_ide="graphiql")),
    )
    leftover = _CDN_URL_RE.search(page)
    if leftover is not None:
        raise GraphiQLAssetsError(
            f"strawberry's GraphiQL page still references {leftover.group(0)} after "
            f"rewriting (outside a <script src>/<link href>?); {_VENDOR_HINT}"
        )
    return page


EXAMPLE_FILE = Path(__file__).resolve().parent / "example.graphql"
_EXAMPLE_RE = re.compile(r"const EXAMPLE_QUERY = `.*?`;", re.DOTALL)


def with_example(page: str) -> str:
    """The page opening on imgflow's own example (how to sign in and pass the token)
    instead of GraphiQL's generic welcome text."""
    example = EXAMPLE_FILE.read_text()
    if "`" in example or "${" in example or "\\" in example:
        raise GraphiQLAssetsError("example.graphql must not end the page's JS template literal")
    page, found = _EXAMPLE_RE.subn(lambda _: f"const EXAMPLE_QUERY = `{example}`;", page)
    if found != 1:
        raise GraphiQLAssetsError("strawberry's GraphiQL page has no EXAMPLE_QUERY to replace")
    return page


class _AssetFiles(StaticFiles):
    """StaticFiles that marks the (versioned, hence immutable) vendored files as cacheable."""

    def __init__(self, *, directory: PathLike, immutable: frozenset[str]) -> None:
        super().__init__(directory=directory)
        self._immutable = immutable

    def file_response(
        self,
        full_path: PathLike,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        if Path(full_path).name in self._immutable:
            response.headers["cache-control"] = IMMUTABLE_CACHE_CONTROL
        else:
            response.headers["cache-control"] = "no-cache"
        return response


def assets_routes(prefix: str = DEFAULT_ASSETS_PREFIX) -> list[BaseRoute]:
    """Routes serving the vendored GraphiQL assets under ``prefix``.

    Pass the same prefix to :func:`graphiql_html`. Raises :class:`GraphiQLAssetsError`
    if an asset is missing.
    """
    path = prefix.rstrip("/")
    if not path.startswith("/"):
        raise ValueError(f"assets prefix must be an absolute path like '/_graphiql': {prefix!r}")
    names = frozenset(asset.file for asset in graphiql_assets())
    app = _AssetFiles(directory=ASSETS_DIR, immutable=names)
    return [Mount(path, app=app, name="graphiql-assets")]
