"""HTTP calls through the guard: an httpx transport that resolves each request's host
once, checks the address, and connects to exactly that address, keeping the name for
the Host header and for TLS (SNI and certificate checks). Redirects are followed by
httpx one hop at a time, so every hop is checked again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from imgflow.outbound.guard import Guard

RESPONSE_READ_LIMIT = 64 * 1024
"""What a webhook delivery reads of a receiver's answer, at most."""


class GuardedTransport(httpx.AsyncBaseTransport):
    """Pins every request to the address the guard checked."""

    def __init__(self, guard: Guard, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.guard = guard
        # No kept-alive connections: the pool is keyed by address, so a TLS connection
        # verified for one name would otherwise carry a request for another name that
        # shares the address.
        self.inner = inner or httpx.AsyncHTTPTransport(
            retries=0, limits=httpx.Limits(max_keepalive_connections=0)
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = await self.guard.resolve(str(request.url))
        extensions = dict(request.extensions)
        if target.scheme == "https":
            extensions["sni_hostname"] = target.host  # certificate checked for the name
        # A new request: the original (its URL with the name) is what httpx resolves
        # redirects against and what the response reports.
        pinned = httpx.Request(
            request.method,
            request.url.copy_with(host=str(target.address)),
            headers=request.headers,  # Host: the name, set when the request was built
            stream=request.stream,
            extensions=extensions,
        )
        return await self.inner.handle_async_request(pinned)

    async def aclose(self) -> None:
        await self.inner.aclose()


def guarded_client(
    guard: Guard, *, connect_timeout: float, read_timeout: float, max_redirects: int = 0
) -> httpx.AsyncClient:
    """A client that only reaches what `guard` allows, ignoring proxy variables."""
    return httpx.AsyncClient(
        transport=GuardedTransport(guard),
        timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
        follow_redirects=max_redirects > 0,
        max_redirects=max_redirects,
        trust_env=False,
    )


class BodyTooLarge(Exception):
    """The answer is larger than the caller's limit; reading stopped there."""


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: bytes
    duration_ms: int


async def read_capped(response: httpx.Response, limit: int, *, truncate: bool) -> bytes:
    """At most `limit` bytes of the body, streamed; beyond it BodyTooLarge, or (with
    `truncate`) the first `limit` bytes."""
    declared = response.headers.get("content-length", "")
    if not truncate and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"the answer declares {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            if truncate:
                break
            raise BodyTooLarge(f"the answer is larger than {limit} bytes")
    return b"".join(chunks)[:limit]


async def post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    total_seconds: float,
) -> Answer:
    """POST `body`, read at most RESPONSE_READ_LIMIT of the answer, all within
    `total_seconds` (a receiver trickling bytes cannot hold the sender longer)."""
    started = time.monotonic()
    async with asyncio.timeout(total_seconds):
        async with client.stream("POST", url, content=body, headers=headers) as response:
            answer = await read_capped(response, RESPONSE_READ_LIMIT, truncate=True)
    elapsed = round((time.monotonic() - started) * 1000)
    return Answer(response.status_code, answer, elapsed)


async def get(client: httpx.AsyncClient, url: str, limit: int, total_seconds: float) -> bytes:
    """GET `url` (redirects as the client follows them), the body capped at `limit`;
    httpx.HTTPStatusError for a non-2xx answer."""
    async with asyncio.timeout(total_seconds):
        async with client.stream("GET", url) as response:
            response.raise_for_status()
            return await read_capped(response, limit, truncate=False)
