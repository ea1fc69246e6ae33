"""The live page at /live: sign in, submit an image with a pipeline, watch it run.

Plain HTML, CSS and JavaScript modules served from this package: no build step and
nothing from a CDN. The page speaks only the public API (GraphQL over HTTP, multipart
uploads, graphql-transport-ws), so it stays on in production too: it is an application
and can do nothing that any client of the API cannot.

It is sent with a Content-Security-Policy that allows no inline script or style and
no origin but this one, except for images: result links are signed URLs that may live
on another origin (S3), see :func:`content_security_policy`.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

from imgflow.settings import Settings
from imgflow.web.live.steps import with_steps

__all__ = ["PAGE_PATH", "STATIC_DIR", "content_security_policy", "live_routes"]

PACKAGE_DIR = Path(__file__).resolve().parent
PAGE_FILE = PACKAGE_DIR / "index.html"
STATIC_DIR = PACKAGE_DIR / "static"
PAGE_PATH = "/live"
STATIC_PATH = "/live/static"

# What a Host header may hold to be repeated in the policy: a name or an address and a
# port, nothing that could end a directive (`;`) or add a source (space).
_HOST_RE = re.compile(r"[A-Za-z0-9.-]+(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?")

COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # Signed result links must not travel on to other sites in a Referer.
    "Referrer-Policy": "no-referrer",
}


def live_routes(settings: Settings) -> list[BaseRoute]:
    """The page and its files. Reads the page once, so a missing file fails at start."""
    page = with_steps(PAGE_FILE.read_text(encoding="utf-8")).encode()

    async def live_page(request: Request) -> Response:
        headers = {
            **COMMON_HEADERS,
            "Content-Security-Policy": content_security_policy(
                settings, request.headers.get("host")
            ),
            "Cache-Control": "no-cache",
        }
        return Response(page, media_type="text/html; charset=utf-8", headers=headers)

    return [
        Route(PAGE_PATH, live_page, methods=["GET"]),
        Mount(STATIC_PATH, app=_LiveFiles(directory=STATIC_DIR), name="live-static"),
    ]


def content_security_policy(settings: Settings, host: str | None) -> str:
    """Scripts, styles and requests: this origin only (WebSockets to this host too).

    Images: this origin, `blob:` (the preview of the chosen file, read locally before
    any upload) and wherever signed result links point. On S3 that is another origin, the
    bucket's `https://` host, which depends on bucket, region and addressing style, so
    `https:` is allowed as a whole; an S3-compatible endpoint (`IMGFLOW_S3_ENDPOINT_URL`,
    possibly plain http) and `IMGFLOW_PUBLIC_URL` are added by name. An image cannot run
    code, and the page sets no image from anything but the API's answers.
    """
    connect = ["'self'"]
    if host and _HOST_RE.fullmatch(host):
        # 'self' covers same-host WebSockets in current browsers; older ones need them named.
        connect += [f"ws://{host}", f"wss://{host}"]
    images = ["'self'", "blob:", "https:", *image_origins(settings)]
    directives = [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src {' '.join(dict.fromkeys(images))}",
        f"connect-src {' '.join(connect)}",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
    return "; ".join(directives)


def image_origins(settings: Settings) -> list[str]:
    """Origins of file links that are not this page's own: the S3 endpoint the links are
    signed for, the public URL."""
    s3_links = settings.s3_public_endpoint_url or settings.s3_endpoint_url
    origins: list[str] = []
    for url in (s3_links, settings.public_url):
        parts = urlsplit(url or "")
        if parts.scheme not in ("http", "https") or not _HOST_RE.fullmatch(parts.netloc):
            continue
        origins.append(f"{parts.scheme}://{parts.netloc}")
        if url == s3_links and is_host_name(parts.hostname or ""):
            # Virtual-hosted buckets: <bucket>.<endpoint host>.
            origins.append(f"{parts.scheme}://*.{parts.netloc}")
    return origins


def is_host_name(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return bool(host)
    return False


class _LiveFiles(StaticFiles):
    """The page's scripts and styles: unversioned names, so revalidated on each load."""

    def file_response(
        self,
        full_path: PathLike,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update({**COMMON_HEADERS, "Cache-Control": "no-cache"})
        return response
