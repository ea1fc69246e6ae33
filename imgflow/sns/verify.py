"""Verification of SNS HTTP(S) messages: parsing, the string AWS signs, where the signing
certificate may come from, the signature itself, and replayed confirmations.

No Starlette here: `imgflow.sns.webhook` only translates HTTP in and out. The format is
AWS's: https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SNS_HOST = re.compile(
    r"sns\.(?:(?!cn-)[a-z]{2}-[a-z]+-\d+\.amazonaws\.com"
    r"|cn-[a-z]+-\d+\.amazonaws\.com\.cn"
    r"|us-gov-[a-z]+-\d+\.amazonaws\.com)"
)
"""The only hosts a certificate or a subscription URL is fetched from: SNS's own
endpoint in one region, `sns.<region>.amazonaws.com` (China: `.amazonaws.com.cn`,
GovCloud: `us-gov-<direction>-<n>`). A region is `<area>-<direction>-<number>`, so
`sns.s3.amazonaws.com` (an S3 bucket named "sns", anyone's to create) is not one."""
MAX_AGE = timedelta(hours=1)
"""Confirmations older than this are refused as possible replays."""
CLOCK_SKEW = timedelta(minutes=5)
SIGNATURE_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "1": hashes.SHA1,
    "2": hashes.SHA256,
}


class SnsRejected(Exception):
    """A message refused; `reason` is short and safe to send back to the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MalformedMessage(SnsRejected):
    """The body is not an SNS message at all (a client error, not a forgery)."""


class CertificateUnavailable(SnsRejected):
    """The signing certificate could not be fetched right now: worth a retry by SNS."""


class MessageType(StrEnum):
    """The body's `Type`: emulators send no `x-amz-sns-message-type` header."""

    NOTIFICATION = "Notification"
    """A message published to the topic."""
    SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
    """SNS asks the endpoint to confirm by fetching `SubscribeURL`."""
    UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"
    """The subscription was removed."""


NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_KEYS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
REQUIRED_KEYS = (
    "Type",
    "MessageId",
    "TopicArn",
    "Message",
    "Timestamp",
    "SignatureVersion",
    "Signature",
    "SigningCertURL",
)


@dataclass(frozen=True)
class SnsMessage:
    """One SNS HTTP delivery, as sent (string fields verbatim: the signature covers them)."""

    type: MessageType
    message_id: str
    topic_arn: str
    message: str
    timestamp: str
    sent_at: datetime
    """`timestamp` parsed, in UTC."""
    signature_version: str
    signature: bytes
    signing_cert_url: str
    subject: str | None = None
    subscribe_url: str | None = None
    token: str | None = None

    @property
    def is_confirmation(self) -> bool:
        return self.type is not MessageType.NOTIFICATION

    def signed_fields(self) -> dict[str, str]:
        """The fields AWS signs that this message carries, by their AWS names."""
        fields = {
            "Message": self.message,
            "MessageId": self.message_id,
            "Subject": self.subject,
            "SubscribeURL": self.subscribe_url,
            "Timestamp": self.timestamp,
            "Token": self.token,
            "TopicArn": self.topic_arn,
            "Type": self.type.value,
        }
        return {name: value for name, value in fields.items() if value is not None}


@dataclass(frozen=True)
class SnsConfig:
    """What the webhook needs from settings (the caller fills it from `IMGFLOW_SNS_*`)."""

    verify_signatures: bool = True
    allowed_topics: frozenset[str] = frozenset()
    trusted_certificate_pem: str | None = None


def parse_topics(text: str) -> frozenset[str]:
    """`IMGFLOW_SNS_ALLOWED_TOPICS`: comma-separated topic ARNs; empty refuses all."""
    return frozenset(filter(None, (part.strip() for part in text.split(","))))


def parse(body: bytes) -> SnsMessage:
    """The JSON body of an SNS delivery; refuses anything that is not one."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # not UTF-8 (a ValueError too), nested too deep
        raise MalformedMessage("body is not JSON") from None
    if not isinstance(data, dict):
        raise MalformedMessage("body is not a JSON object")
    try:
        kind = MessageType(data["Type"])
    except (KeyError, ValueError, TypeError):
        raise MalformedMessage("unknown message Type") from None
    _require_strings(data, kind)
    return SnsMessage(
        type=kind,
        message_id=data["MessageId"],
        topic_arn=data["TopicArn"],
        message=data["Message"],
        timestamp=data["Timestamp"],
        sent_at=_parse_timestamp(data["Timestamp"]),
        signature_version=data["SignatureVersion"],
        signature=_decode_signature(data["Signature"]),
        signing_cert_url=data["SigningCertURL"],
        subject=data.get("Subject"),
        subscribe_url=data.get("SubscribeURL"),
        token=data.get("Token"),
    )


def _require_strings(data: dict[str, Any], kind: MessageType) -> None:
    required = (
        REQUIRED_KEYS
        if kind is MessageType.NOTIFICATION
        else (*REQUIRED_KEYS, "SubscribeURL", "Token")
    )
    missing = [key for key in required if not isinstance(data.get(key), str)]
    if missing:
        raise MalformedMessage(f"missing or not a string: {', '.join(missing)}")
    if not isinstance(data.get("Subject", ""), str | None):
        raise MalformedMessage("Subject is not a string")


def _parse_timestamp(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise MalformedMessage("Timestamp is not ISO 8601") from None
    if moment.tzinfo is None:
        raise MalformedMessage("Timestamp has no time zone")
    return moment.astimezone(UTC)


def _decode_signature(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise MalformedMessage("Signature is not base64") from None


def string_to_sign(message: SnsMessage, *, include_subject: bool = True) -> bytes:
    """AWS's canonical form: `name\\nvalue\\n` for each signed field present, in order."""
    keys = NOTIFICATION_KEYS if message.type is MessageType.NOTIFICATION else CONFIRMATION_KEYS
    fields = message.signed_fields()
    if not include_subject:
        fields.pop("Subject", None)
    return "".join(f"{key}\n{fields[key]}\n" for key in keys if key in fields).encode()


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


class RecentIds:
    """MessageIds accepted lately, so a captured confirmation cannot be played again.

    Bounded; entries past `max_age` are dropped, since their timestamps refuse them anyway.
    """

    def __init__(self, max_entries: int, max_age: timedelta) -> None:
        self._seen: OrderedDict[str, datetime] = OrderedDict()
        self._max_entries = max_entries
        self._max_age = max_age

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._seen

    def add(self, message_id: str, sent_at: datetime, now: datetime) -> bool:
        """Remember `message_id`; False if it was already there."""
        if message_id in self._seen:
            return False
        self._seen[message_id] = sent_at
        while self._seen and (
            len(self._seen) > self._max_entries
            or next(iter(self._seen.values())) < now - self._max_age
        ):
            self._seen.popitem(last=False)
        return True


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Verifier:
    """Decides whether an SNS message is genuine and for us.

    Checks in order of cost, so a refusal needs no network: the topic allow-list, then
    (with signatures on) the signature version, the certificate and subscription URLs'
    hosts, a confirmation's age and MessageId, and only then the signature, against the
    certificate fetched from SNS or, for emulators and tests, a configured trusted one.
    """

    def __init__(
        self,
        allowed_topics: Iterable[str],
        certificates: CertificateCache | None = None,
        *,
        verify_signatures: bool = True,
        trusted_certificate: str | None = None,
        max_age: timedelta = MAX_AGE,
        remembered_ids: int = 10_000,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._topics = frozenset(allowed_topics)
        self._trusted = (
            load_certificate(trusted_certificate.encode()) if trusted_certificate else None
        )
        self._certificates = certificates or CertificateCache()
        self._verify_signatures = verify_signatures
        self._max_age = max_age
        self._seen = RecentIds(remembered_ids, max_age)
        self._clock = clock

    @classmethod
    def from_config(
        cls, config: SnsConfig, certificates: CertificateCache | None = None
    ) -> Verifier:
        return cls(
            config.allowed_topics,
            certificates,
            verify_signatures=config.verify_signatures,
            trusted_certificate=config.trusted_certificate_pem,
        )

    @property
    def verifies_signatures(self) -> bool:
        return self._verify_signatures

    async def aclose(self) -> None:
        await self._certificates.aclose()

    async def verify(self, message: SnsMessage) -> None:
        """Returns if `message` may be acted on; raises SnsRejected otherwise."""
        if message.topic_arn not in self._topics:
            raise SnsRejected("topic not allowed")
        if not self._verify_signatures:
            return
        self._check_cheaply(message)
        key = self._trusted or await self._certificates.get(message.signing_cert_url)
        self._check_signature(message, key)
        # Checked again now, with no await since: two copies racing through the fetch
        # must not both pass.
        if message.is_confirmation and not self._seen.add(
            message.message_id, message.sent_at, self._clock()
        ):
            raise SnsRejected("confirmation already seen")

    def _check_cheaply(self, message: SnsMessage) -> None:
        if message.signature_version not in SIGNATURE_HASHES:
            raise SnsRejected("unsupported SignatureVersion")
        require_sns_url(message.signing_cert_url, "SigningCertURL")
        if message.subscribe_url is not None:
            require_sns_url(message.subscribe_url, "SubscribeURL")
        if message.is_confirmation:
            self._check_fresh(message)

    def _check_fresh(self, message: SnsMessage) -> None:
        now = self._clock()
        if message.sent_at < now - self._max_age:
            raise SnsRejected("message is too old")
        if message.sent_at > now + CLOCK_SKEW:
            raise SnsRejected("message is from the future")
        if message.message_id in self._seen:
            raise SnsRejected("confirmation already seen")

    def _check_signature(self, message: SnsMessage, key: rsa.RSAPublicKey) -> None:
        if _signature_matches(message, key, include_subject=True):
            return
        # moto signs without `Subject` (see STACK-NOTES). Tolerated only with a configured
        # trusted certificate, i.e. an emulator or test set-up, never against real SNS.
        emulated = self._trusted is not None and message.subject is not None
        if emulated and _signature_matches(message, key, include_subject=False):
            return
        raise SnsRejected("signature does not match")


def _signature_matches(
    message: SnsMessage, key: rsa.RSAPublicKey, *, include_subject: bool
) -> bool:
    algorithm = SIGNATURE_HASHES[message.signature_version]()
    data = string_to_sign(message, include_subject=include_subject)
    try:
        key.verify(message.signature, data, padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        return False
    return True
