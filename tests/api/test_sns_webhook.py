"""imgflow.web.sns.webhook: the endpoint mounted in a tiny Starlette app, driven over ASGI.

Messages are signed with the test key pair of tests/unit/test_sns_verify.py; its fake of
AWS's certificate host (unreachable from here) serves the matching certificate.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from imgflow.web.sns import CertificateCache, SnsRejected, Verifier
from imgflow.web.sns.webhook import MAX_BODY_BYTES, build_webhook, confirm_subscription
from tests.sns_signing import (
    SUBSCRIBE_URL,
    TOPIC,
    CertificateHost,
    Signer,
    certificate_pem,
    private_key,
)

PATH = "/webhooks/sns"
BUCKET = "imgflow-uploads"


@dataclass
class Calls:
    """What the webhook asked of the rest of imgflow."""

    created: list[tuple[str, str]] = field(default_factory=list)
    confirmed: list[str] = field(default_factory=list)
    failing_keys: set[str] = field(default_factory=set)

    async def on_object_created(self, bucket: str, key: str) -> None:
        self.created.append((bucket, key))
        if key in self.failing_keys:
            raise RuntimeError(f"cannot ingest {key}")

    async def confirm(self, url: str) -> None:
        self.confirmed.append(url)


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def host() -> CertificateHost:
    return CertificateHost(certificate_pem(private_key("sns")))


def webhook_client(verifier: Verifier, calls: Calls) -> httpx.AsyncClient:
    endpoint = build_webhook(verifier, calls.on_object_created, calls.confirm)
    app = Starlette(routes=[Route(PATH, endpoint, methods=["POST"])])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://imgflow")


@pytest.fixture
async def http(calls: Calls, host: CertificateHost) -> AsyncIterator[httpx.AsyncClient]:
    async with host.client() as certificates:
        verifier = Verifier({TOPIC}, CertificateCache(certificates))
        async with webhook_client(verifier, calls) as client:
            yield client


async def post(http: httpx.AsyncClient, fields: dict[str, Any]) -> httpx.Response:
    # As moto sends it: JSON as text/plain, no x-amz-sns-* headers.
    return await http.post(PATH, content=json.dumps(fields), headers={"content-type": "text/plain"})


def s3_event(*records: tuple[str, str]) -> str:
    """An S3 event as S3 sends it: keys form-encoded (`+` for space, `%2F` for `/`)."""
    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "eventName": name,
                    "s3": {"bucket": {"name": BUCKET}, "object": {"key": quote_plus(key)}},
                }
                for name, key in records
            ]
        }
    )


async def test_a_genuine_confirmation_is_confirmed_once(
    http: httpx.AsyncClient, calls: Calls
) -> None:
    response = await post(http, Signer().confirmation())
    assert response.status_code == 200
    assert calls.confirmed == [SUBSCRIBE_URL]


async def test_a_forged_confirmation_is_refused(
    http: httpx.AsyncClient, calls: Calls, host: CertificateHost
) -> None:
    forged = {**Signer().confirmation(), "SubscribeURL": SUBSCRIBE_URL + "&x=1"}
    response = await post(http, forged)
    assert response.status_code == 403
    assert response.json()["message"] == "signature does not match"
    forger = Signer(key=private_key("forger"))
    assert (await post(http, forger.confirmation())).status_code == 403
    assert calls.confirmed == []
    assert all(r.url.path.endswith(".pem") for r in host.requests)


async def test_a_confirmation_to_another_host_is_never_fetched(
    http: httpx.AsyncClient, calls: Calls, host: CertificateHost
) -> None:
    fields = Signer().confirmation(subscribe_url="https://169.254.169.254/latest/meta-data/")
    response = await post(http, fields)
    assert response.status_code == 403
    assert "SubscribeURL" in response.json()["message"]
    assert calls.confirmed == []
    assert host.requests == []


async def test_an_unknown_topic_is_refused(http: httpx.AsyncClient, calls: Calls) -> None:
    fields = {**Signer().confirmation(), "TopicArn": "arn:aws:sns:us-east-1:1:other"}
    response = await post(http, fields)
    assert response.status_code == 403
    assert response.json() == {"error": "FORBIDDEN", "message": "topic not allowed"}
    assert calls.confirmed == []


async def test_an_unsubscribe_is_acknowledged(http: httpx.AsyncClient, calls: Calls) -> None:
    response = await post(http, Signer().confirmation("UnsubscribeConfirmation"))
    assert response.status_code == 200
    assert calls.confirmed == []


async def test_created_objects_are_called_back_with_decoded_keys(
    http: httpx.AsyncClient, calls: Calls
) -> None:
    message = s3_event(
        ("ObjectCreated:Post", "uploads/job-1/my holiday+snap.jpg"),
        ("ObjectRemoved:Delete", "uploads/job-9/gone.png"),
        ("ObjectCreated:Put", "uploads/job-2/plain.png"),
    )
    assert "uploads%2Fjob-1%2Fmy+holiday%2Bsnap.jpg" in message  # as S3 sends it
    response = await post(http, Signer().notification(message, subject="Amazon S3 Notification"))
    assert response.status_code == 200
    assert calls.created == [
        (BUCKET, "uploads/job-1/my holiday+snap.jpg"),
        (BUCKET, "uploads/job-2/plain.png"),
    ]


async def test_a_failing_record_does_not_block_the_others(
    http: httpx.AsyncClient, calls: Calls
) -> None:
    calls.failing_keys.add("uploads/a.png")
    message = s3_event(
        ("ObjectCreated:Post", "uploads/a.png"), ("ObjectCreated:Post", "uploads/b.png")
    )
    response = await post(http, Signer().notification(message))
    assert response.status_code == 200
    assert calls.created == [(BUCKET, "uploads/a.png"), (BUCKET, "uploads/b.png")]


@pytest.mark.parametrize(
    "message",
    [
        json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET}),
        "plain text, not an S3 event",
        json.dumps({"Records": "nope"}),
        json.dumps({"Records": [{"eventName": "ObjectCreated:Put"}, 7]}),
    ],
    ids=["test-event", "text", "bad-records", "record-without-key"],
)
async def test_other_notifications_are_acknowledged_and_ignored(
    http: httpx.AsyncClient, calls: Calls, message: str
) -> None:
    response = await post(http, Signer().notification(message))
    assert response.status_code == 200
    assert calls.created == []


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[]", b'{"Type": "Notification"}', b"", b"[" * 100_000],
    ids=["not-json", "array", "missing-fields", "empty", "nested-too-deep"],
)
async def test_a_malformed_body_is_a_bad_request(
    http: httpx.AsyncClient, calls: Calls, content: bytes
) -> None:
    response = await http.post(PATH, content=content)
    assert response.status_code == 400
    assert response.json()["error"] == "BAD_REQUEST"
    assert calls.created == []
    assert calls.confirmed == []


async def test_a_header_contradicting_the_body_is_a_bad_request(http: httpx.AsyncClient) -> None:
    response = await http.post(
        PATH,
        content=json.dumps(Signer().notification()),
        headers={"x-amz-sns-message-type": "SubscriptionConfirmation"},
    )
    assert response.status_code == 400


async def test_an_oversized_body_is_refused(http: httpx.AsyncClient) -> None:
    assert (await http.post(PATH, content=b" " * (MAX_BODY_BYTES + 1))).status_code == 413


async def test_an_oversized_stream_without_length_is_refused(http: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(MAX_BODY_BYTES // 1024 + 2):
            yield b" " * 1024

    response = await http.post(PATH, content=chunks())
    assert "content-length" not in response.request.headers
    assert response.status_code == 413


async def test_a_failing_confirmation_is_a_bad_gateway(host: CertificateHost, calls: Calls) -> None:
    async def unreachable(url: str) -> None:
        raise httpx.ConnectError("down")

    async with host.client() as certificates:
        verifier = Verifier({TOPIC}, CertificateCache(certificates))
        endpoint = build_webhook(verifier, calls.on_object_created, unreachable)
        app = Starlette(routes=[Route(PATH, endpoint, methods=["POST"])])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://imgflow") as http:
            response = await post(http, Signer().confirmation())
    assert response.status_code == 502


async def test_an_unreachable_certificate_host_asks_sns_to_retry(calls: Calls) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as certificates:
        verifier = Verifier({TOPIC}, CertificateCache(certificates))
        async with webhook_client(verifier, calls) as http:
            response = await post(http, Signer().notification(s3_event(("ObjectCreated:Put", "k"))))
    assert response.status_code == 503
    assert calls.created == []


async def test_with_signatures_off_moto_messages_are_accepted(calls: Calls) -> None:
    """moto signs with a throw-away certificate: local set-ups turn verification off."""
    verifier = Verifier({TOPIC}, verify_signatures=False)
    unsigned = {
        **Signer().notification(s3_event(("ObjectCreated:Put", "uploads/x.png"))),
        "Signature": "",
    }
    async with webhook_client(verifier, calls) as http:
        assert (await post(http, unsigned)).status_code == 200
        bad = Signer().confirmation(subscribe_url="http://127.0.0.1:5000/")
        assert (await post(http, bad)).status_code == 403  # the host rule still holds
    assert calls.created == [(BUCKET, "uploads/x.png")]
    assert calls.confirmed == []


async def test_the_default_confirm_gets_the_checked_url_without_redirects() -> None:
    seen: list[httpx.Request] = []

    def sns(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(sns)) as client:
        with pytest.raises(httpx.HTTPStatusError):
            await confirm_subscription(SUBSCRIBE_URL, client)
        with pytest.raises(SnsRejected, match="SubscribeURL"):
            await confirm_subscription("https://evil.example/confirm", client)
    assert [str(r.url) for r in seen] == [SUBSCRIBE_URL]
