"""imgflow.web.sns.verify: the real verifier, against messages signed with our own key pair.

AWS's certificate host (`sns.<region>.amazonaws.com`) cannot be reached from here, so the
certificate cache is given an httpx MockTransport that fakes it: it serves the test
certificate at CERT_URL and records every request, so each refusal can also be shown to
have cost no outbound request.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from imgflow.web.sns import (
    CertificateCache,
    CertificateUnavailable,
    MalformedMessage,
    MessageType,
    SnsRejected,
    Verifier,
    parse,
    parse_topics,
    require_sns_url,
)
from tests.sns_signing import (
    CERT_URL,
    S3_EVENT,
    SUBSCRIBE_URL,
    TOPIC,
    CertificateHost,
    Signer,
    aws_timestamp,
    body,
    certificate_pem,
    private_key,
)


@pytest.fixture
def host() -> CertificateHost:
    return CertificateHost(certificate_pem(private_key("sns")))


@pytest.fixture
async def verifier(host: CertificateHost) -> AsyncIterator[Verifier]:
    async with host.client() as client:
        yield Verifier({TOPIC}, CertificateCache(client))


@pytest.fixture
async def warm_verifier(verifier: Verifier, host: CertificateHost) -> Verifier:
    """A verifier that has already fetched (and cached) the genuine certificate."""
    await verifier.verify(parse(body(Signer().notification())))
    host.requests.clear()
    return verifier


async def refused(verifier: Verifier, fields: dict[str, str]) -> str:
    with pytest.raises(SnsRejected) as caught:
        await verifier.verify(parse(body(fields)))
    return caught.value.reason


# --- genuine messages pass


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize(
    "build",
    [
        lambda s: s.notification(),
        lambda s: s.notification(subject="Amazon S3 Notification"),
        lambda s: s.confirmation(),
        lambda s: s.confirmation("UnsubscribeConfirmation"),
    ],
    ids=["notification", "notification-subject", "subscribe", "unsubscribe"],
)
async def test_genuine_messages_pass(
    verifier: Verifier, host: CertificateHost, version: str, build: Any
) -> None:
    await verifier.verify(parse(body(build(Signer(version=version)))))
    assert [str(r.url) for r in host.requests] == [CERT_URL]


async def test_the_certificate_is_fetched_once(verifier: Verifier, host: CertificateHost) -> None:
    signer = Signer()
    for _ in range(3):
        await verifier.verify(parse(body(signer.notification())))
    assert len(host.requests) == 1
    assert host.requests[0].method == "GET"


# --- forgeries are refused; the signature checks run on the cached genuine certificate


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Message", S3_EVENT.replace("Post", "Pust")),
        ("MessageId", "00000000-0000-0000-0000-999999999999"),
        ("Timestamp", aws_timestamp(datetime.now(UTC) - timedelta(seconds=1))),
    ],
    ids=["Message", "MessageId", "Timestamp"],  # the same in every parallel test process
)
async def test_a_changed_field_is_refused(
    warm_verifier: Verifier, host: CertificateHost, name: str, value: str
) -> None:
    fields = Signer().notification()
    assert await refused(warm_verifier, {**fields, name: value}) == "signature does not match"
    assert host.requests == []


async def test_one_changed_byte_is_refused(warm_verifier: Verifier, host: CertificateHost) -> None:
    fields = Signer().notification(message="x" * 100)
    forged = {**fields, "Message": "x" * 50 + "y" + "x" * 49}
    assert await refused(warm_verifier, forged) == "signature does not match"
    assert host.requests == []


@pytest.mark.parametrize("name", ["SubscribeURL", "Token"])
async def test_a_changed_confirmation_is_refused(
    warm_verifier: Verifier, host: CertificateHost, name: str
) -> None:
    fields = Signer().confirmation()
    changed = SUBSCRIBE_URL + "x" if name == "SubscribeURL" else "other"
    assert await refused(warm_verifier, {**fields, name: changed}) == "signature does not match"
    assert host.requests == []


async def test_an_added_subject_is_refused(warm_verifier: Verifier, host: CertificateHost) -> None:
    fields = Signer().notification()
    assert await refused(warm_verifier, {**fields, "Subject": "hi"}) == "signature does not match"
    assert host.requests == []


@pytest.mark.parametrize("version", ["1", "2"])
async def test_a_wrong_key_is_refused(
    warm_verifier: Verifier, host: CertificateHost, version: str
) -> None:
    forger = Signer(key=private_key("forger"), version=version)
    assert await refused(warm_verifier, forger.notification()) == "signature does not match"
    assert host.requests == []


async def test_a_version_mismatch_is_refused(warm_verifier: Verifier) -> None:
    fields = Signer(version="1").notification()
    assert await refused(warm_verifier, {**fields, "SignatureVersion": "2"}) == (
        "signature does not match"
    )


async def test_a_forgery_on_a_cold_cache_fetches_only_the_certificate(
    verifier: Verifier, host: CertificateHost
) -> None:
    forger = Signer(key=private_key("forger"))
    await refused(verifier, forger.confirmation())
    assert [str(r.url) for r in host.requests] == [CERT_URL]


# --- cheap refusals: nothing is fetched at all


BAD_CERT_URLS = [
    "https://sns.us-east-1.evil.example/cert.pem",
    "https://evil.example/SimpleNotificationService-test.pem",
    "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem",
    "https://user@sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem",
    "https://user:pw@sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem",
    "https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-test.pem",
    "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem",
    "https://sns.us-east-1.amazonaws.com@evil.example/cert.pem",
    "https://sns.us-east-1.amazonaws.com\\@evil.example/cert.pem",
    "https://evil.example#@sns.us-east-1.amazonaws.com/cert.pem",
    "https://sns.amazonaws.com/cert.pem",
    "https://sns.us_east_1.amazonaws.com/cert.pem",
    "https://s3.us-east-1.amazonaws.com/cert.pem",
    "https://sns.s3.amazonaws.com/cert.pem",  # an S3 bucket named "sns": anyone's
    "https://sns.s3-website.amazonaws.com/cert.pem",
    "https://sns.us-east-1.amazonaws.com.cn/cert.pem",
    "https://sns.cn-north-1.amazonaws.com/cert.pem",
    "file:///etc/passwd",
    "not a url",
]


@pytest.mark.parametrize("url", BAD_CERT_URLS)
async def test_a_certificate_url_off_sns_is_refused_unfetched(
    verifier: Verifier, host: CertificateHost, url: str
) -> None:
    # Signed with the genuine key: only the URL is wrong.
    reason = await refused(verifier, Signer(cert_url=url).notification())
    assert "SigningCertURL" in reason
    assert host.requests == []


@pytest.mark.parametrize("url", BAD_CERT_URLS)
async def test_a_subscribe_url_off_sns_is_refused_unfetched(
    verifier: Verifier, host: CertificateHost, url: str
) -> None:
    reason = await refused(verifier, Signer().confirmation(subscribe_url=url))
    assert "SubscribeURL" in reason
    assert host.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.us-east-1.amazonaws.com/x.pem",
        "https://sns.eu-west-3.amazonaws.com:443/x.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/x.pem",
        "https://sns.us-gov-west-1.amazonaws.com/x.pem",
        "https://sns.il-central-1.amazonaws.com/x.pem",
        "https://SNS.US-EAST-1.AMAZONAWS.COM/x.pem",
    ],
)
def test_sns_hosts_are_accepted(url: str) -> None:
    assert require_sns_url(url, "SigningCertURL").scheme == "https"


@pytest.mark.parametrize("topics", [set(), {"arn:aws:sns:us-east-1:123456789012:other"}])
@pytest.mark.parametrize("verify_signatures", [True, False])
async def test_an_unknown_topic_is_refused(
    host: CertificateHost, topics: set[str], verify_signatures: bool
) -> None:
    async with host.client() as client:
        verifier = Verifier(topics, CertificateCache(client), verify_signatures=verify_signatures)
        assert await refused(verifier, Signer().confirmation()) == "topic not allowed"
    assert host.requests == []


async def test_an_unknown_signature_version_is_refused(
    verifier: Verifier, host: CertificateHost
) -> None:
    fields = Signer().notification()
    assert await refused(verifier, {**fields, "SignatureVersion": "3"}) == (
        "unsupported SignatureVersion"
    )
    assert host.requests == []


@pytest.mark.parametrize(
    ("age", "reason"),
    [
        (timedelta(hours=2), "message is too old"),
        (-timedelta(hours=1), "message is from the future"),
    ],
)
@pytest.mark.parametrize("kind", ["SubscriptionConfirmation", "UnsubscribeConfirmation"])
async def test_a_stale_confirmation_is_refused(
    verifier: Verifier, host: CertificateHost, age: timedelta, reason: str, kind: str
) -> None:
    fields = Signer().confirmation(kind, sent_at=datetime.now(UTC) - age)
    assert await refused(verifier, fields) == reason
    assert host.requests == []


async def test_a_replayed_confirmation_is_refused(
    warm_verifier: Verifier, host: CertificateHost
) -> None:
    fields = Signer().confirmation()
    await warm_verifier.verify(parse(body(fields)))
    assert await refused(warm_verifier, fields) == "confirmation already seen"
    assert host.requests == []


async def test_a_refused_confirmation_is_not_remembered(warm_verifier: Verifier) -> None:
    """A forgery reusing a genuine MessageId must not block the genuine message."""
    genuine = Signer().confirmation()
    forged = {**genuine, "Token": "forged"}
    await refused(warm_verifier, forged)
    await warm_verifier.verify(parse(body(genuine)))


# --- settings: signatures off, trusted certificate


async def test_with_signatures_off_only_the_topic_is_checked(host: CertificateHost) -> None:
    async with host.client() as client:
        verifier = Verifier({TOPIC}, CertificateCache(client), verify_signatures=False)
        unsigned = {**Signer(cert_url="http://localhost/x.pem").notification(), "Signature": ""}
        await verifier.verify(parse(body(unsigned)))
    assert host.requests == []


async def test_a_trusted_certificate_replaces_fetching(host: CertificateHost) -> None:
    pem = certificate_pem(private_key("emulator")).decode()
    async with host.client() as client:
        verifier = Verifier({TOPIC}, CertificateCache(client), trusted_certificate=pem)
        emulator = Signer(key=private_key("emulator"))
        await verifier.verify(parse(body(emulator.notification())))
        # moto leaves Subject out of what it signs: tolerated in this mode only.
        moto_like = emulator.sign(
            {**emulator.base("Notification"), "Message": "m", "Subject": "s"}, omit_subject=True
        )
        await verifier.verify(parse(body(moto_like)))
        assert await refused(verifier, Signer().notification()) == "signature does not match"
    assert host.requests == []


async def test_a_subject_left_unsigned_is_refused_against_real_sns(
    verifier: Verifier,
) -> None:
    signer = Signer()
    fields = signer.sign(
        {**signer.base("Notification"), "Message": "m", "Subject": "s"}, omit_subject=True
    )
    assert await refused(verifier, fields) == "signature does not match"


def test_a_bad_trusted_certificate_fails_at_startup() -> None:
    with pytest.raises(ValueError, match=r".+"):
        Verifier({TOPIC}, trusted_certificate="not a certificate")


# --- the certificate cache


def serving(*responses: httpx.Response) -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler)), seen


async def test_the_cache_does_not_follow_redirects() -> None:
    client, seen = serving(httpx.Response(302, headers={"Location": "http://evil.example/"}))
    async with client:
        with pytest.raises(SnsRejected, match="no certificate"):
            await CertificateCache(client).get(CERT_URL)
    assert len(seen) == 1


async def test_the_cache_caps_the_certificate_size() -> None:
    client, _ = serving(httpx.Response(200, content=b"A" * (16 * 1024 + 1)))
    async with client:
        with pytest.raises(SnsRejected, match="too large"):
            await CertificateCache(client).get(CERT_URL)


async def test_the_cache_refuses_what_is_not_a_certificate() -> None:
    client, _ = serving(httpx.Response(200, content=b"-----BEGIN CERTIFICATE-----\nnope"))
    async with client:
        with pytest.raises(SnsRejected, match="unreadable"):
            await CertificateCache(client).get(CERT_URL)


@pytest.mark.parametrize("response", [httpx.Response(503), None])
async def test_an_unreachable_certificate_host_is_transient(
    response: httpx.Response | None,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if response is None:
            raise httpx.ConnectTimeout("timed out", request=request)
        return response

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(CertificateUnavailable):
            await CertificateCache(client).get(CERT_URL)


async def test_the_cache_expires_and_evicts(host: CertificateHost) -> None:
    now = [0.0]
    async with host.client() as client:
        cache = CertificateCache(client, ttl_seconds=60, max_entries=1, clock=lambda: now[0])
        await cache.get(CERT_URL)
        await cache.get(CERT_URL)
        now[0] = 61
        await cache.get(CERT_URL)
        assert len(host.requests) == 2
        await cache.get(CERT_URL.replace("test", "other"))  # evicts CERT_URL (max 1)
        await cache.get(CERT_URL)
    assert len(host.requests) == 4


# --- parsing


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"Type": "Notification"}',
        b'{"Type": "Other"}',
        b"{}",
        b"[" * 100_000,  # RecursionError in the JSON decoder
    ],
)
def test_what_is_not_an_sns_message_is_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedMessage):
        parse(raw)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Signature", "***"),
        ("Timestamp", "yesterday"),
        ("Timestamp", "2024-01-01T00:00:00"),
        ("MessageId", 42),
        ("Subject", 42),
    ],
)
def test_bad_fields_are_malformed(name: str, value: object) -> None:
    with pytest.raises(MalformedMessage):
        parse(json.dumps({**Signer().notification(), name: value}).encode())


def test_a_confirmation_needs_its_url_and_token() -> None:
    fields = Signer().confirmation()
    del fields["Token"]
    with pytest.raises(MalformedMessage, match="Token"):
        parse(body(fields))


def test_parse_keeps_fields_verbatim() -> None:
    fields = Signer().notification(subject="hello")
    message = parse(body(fields))
    assert message.type is MessageType.NOTIFICATION
    assert message.timestamp == fields["Timestamp"]
    assert message.sent_at.tzinfo is not None
    assert message.subject == "hello"
    assert message.subscribe_url is None


def test_parse_topics() -> None:
    assert parse_topics(" a, ,b,") == frozenset({"a", "b"})
    assert parse_topics("") == frozenset()
