"""Where an SNS signing certificate may come from, and fetching it: SNS's own hosts only
(`require_sns_url`, also for a confirmation's `SubscribeURL`), plain https, no
redirects, size-capped, cached by URL."""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from imgflow.web.sns.messages import SnsRejected

SNS_HOST = re.compile(
    r"sns\.(?:(?!cn-)[a-z]{2}-[a-z]+-\d+\.amazonaws\.com"
    r"|cn-[a-z]+-\d+\.amazonaws\.com\.cn"
    r"|us-gov-[a-z]+-\d+\.amazonaws\.com)"
)
"""The only hosts a certificate or a subscription URL is fetched from: SNS's own
endpoint in one region, `sns.<region>.amazonaws.com` (China: `.amazonaws.com.cn`,
GovCloud: `us-gov-<direction>-<n>`). A region is `<area>-<direction>-<number>`, so
`sns.s3.amazonaws.com` (an S3 bucket named "sns", anyone's to create) is not one."""


class CertificateUnavailable(SnsRejected):
    """The signing certificate could not be fetched right now: worth a retry by SNS."""


def require_sns_url(url: str, field: str) -> httpx.URL:
    """`url` parsed, if it is `https://sns.<region>.amazonaws.com[.cn]/...`; else refused.

    Checked before anything is fetched: a URL taken from a message must never make this
    server reach elsewhere (the replaced system's SSRF hole). The URL is returned parsed
    by httpx so the request goes exactly where the check looked; `urlsplit` must agree on
    the host, so a parser differential (`\\@`, `#@`) cannot slip another host past.
    """
    try:
        parsed = httpx.URL(url)
        split_host = urlsplit(url).hostname
    except (httpx.InvalidURL, ValueError):
        raise SnsRejected(f"{field} is not a valid URL") from None
    if parsed.scheme != "https" or parsed.userinfo or parsed.port not in (None, 443):
        raise SnsRejected(f"{field} must be plain https on port 443")
    if not SNS_HOST.fullmatch(parsed.host) or split_host != parsed.host:
        raise SnsRejected(f"{field} is not on an SNS host")
    return parsed


def load_certificate(pem: bytes) -> rsa.RSAPublicKey:
    """The RSA public key of a PEM certificate; ValueError if it is not one."""
    certificate = x509.load_pem_x509_certificate(pem)
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the signing certificate does not hold an RSA key")
    return key


class CertificateCache:
    """Signing certificates fetched from SNS hosts only, bounded in size and time, and
    cached by URL (SNS signs every message with one of a few certificates)."""

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        max_entries: int = 32,
        ttl_seconds: float = 3600.0,
        max_bytes: int = 16 * 1024,
        timeout_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._owns_client = client is None
        self._entries: OrderedDict[str, tuple[float, rsa.RSAPublicKey]] = OrderedDict()
        self._max_entries = max_entries
        self._ttl = ttl_seconds
        self._max_bytes = max_bytes
        self._timeout = timeout_seconds
        self._clock = clock

    async def get(self, url: str) -> rsa.RSAPublicKey:
        """The key of the certificate at `url`; refuses a URL off the SNS hosts unfetched."""
        checked = require_sns_url(url, "SigningCertURL")
        key = self._lookup(str(checked))
        if key is None:
            key = self._parse(await self._fetch(checked))
            self._store(str(checked), key)
        return key

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    def _lookup(self, url: str) -> rsa.RSAPublicKey | None:
        entry = self._entries.get(url)
        if entry is None or entry[0] <= self._clock():
            self._entries.pop(url, None)
            return None
        self._entries.move_to_end(url)
        return entry[1]

    def _store(self, url: str, key: rsa.RSAPublicKey) -> None:
        self._entries[url] = (self._clock() + self._ttl, key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    async def _fetch(self, url: httpx.URL) -> bytes:
        if self._client is None:
            self._client = httpx.AsyncClient()
        # No redirects: a redirect would lead away from the host that was checked.
        # Identity encoding: then the size cap also bounds what crosses the network.
        request = self._client.stream(
            "GET",
            url,
            headers={"Accept-Encoding": "identity"},
            timeout=self._timeout,
            follow_redirects=False,
        )
        try:
            async with request as response:
                if response.status_code >= 500:
                    raise CertificateUnavailable("the certificate host is failing")
                if response.status_code != 200:
                    raise SnsRejected("no certificate at SigningCertURL")
                return await self._read_capped(response)
        except httpx.HTTPError:
            raise CertificateUnavailable("the signing certificate could not be fetched") from None

    async def _read_capped(self, response: httpx.Response) -> bytes:
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > self._max_bytes:
                raise SnsRejected("the signing certificate is too large")
        return bytes(body)

    @staticmethod
    def _parse(pem: bytes) -> rsa.RSAPublicKey:
        try:
            return load_certificate(pem)
        except ValueError:
            raise SnsRejected("the signing certificate is unreadable") from None
