"""`POST /webhooks/sns`: SNS deliveries of S3 events, verified, turned into callbacks.

Decoupled from the rest of imgflow: the caller passes what to do with a created object
and (optionally) how to confirm a subscription. Answers are quick and never a bare 500:
200 handled or ignored, 400 malformed, 403 refused, 413 too large, 502 when confirming
failed, 503 when SNS's certificate host could not be reached (SNS retries 5xx).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote_plus

import httpx
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from imgflow.web.sns.certificates import CertificateUnavailable, require_sns_url
from imgflow.web.sns.messages import MalformedMessage, MessageType, SnsMessage, SnsRejected, parse
from imgflow.web.sns.verify import Verifier

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
"""SNS messages are at most 256 KiB; the envelope around them is small."""
CONFIRM_TIMEOUT_SECONDS = 5.0
TEST_EVENT = "s3:TestEvent"
CREATED_PREFIX = "ObjectCreated:"

OnObjectCreated = Callable[[str, str], Awaitable[None]]
"""Called with (bucket, key), the key decoded, for each `ObjectCreated:*` record."""
Confirm = Callable[[str], Awaitable[None]]
"""Called with a checked `SubscribeURL`; raises if the confirmation failed."""


class BodyTooLarge(Exception):
    """The request body exceeds MAX_BODY_BYTES."""


def build_webhook(
    verifier: Verifier,
    on_object_created: OnObjectCreated,
    confirm: Confirm | None = None,
) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint; mount it with `Route(path, endpoint, methods=["POST"])`."""
    confirm_url = confirm or confirm_subscription

    async def sns_webhook(request: Request) -> Response:
        try:
            message = parse(await read_body(request, MAX_BODY_BYTES))
            check_header_type(request, message)
            await verifier.verify(message)
        except Exception as error:  # every failure to accept becomes a 4xx/5xx answer
            return refusal_for(error)
        return await handle(message, on_object_created, confirm_url)

    return sns_webhook


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it passes `limit` bytes (declared or streamed)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge
    return bytes(body)


def check_header_type(request: Request, message: SnsMessage) -> None:
    """Real SNS also says the type in a header; emulators omit it, so it is optional."""
    header = request.headers.get("x-amz-sns-message-type")
    if header is not None and header != message.type.value:
        raise MalformedMessage("x-amz-sns-message-type does not match the body's Type")


def refusal_for(error: Exception) -> Response:
    if isinstance(error, BodyTooLarge):
        return answer(413, "PAYLOAD_TOO_LARGE", f"bodies are limited to {MAX_BODY_BYTES} bytes")
    if isinstance(error, MalformedMessage | ClientDisconnect):
        reason = error.reason if isinstance(error, MalformedMessage) else "body incomplete"
        return answer(400, "BAD_REQUEST", reason)
    if isinstance(error, CertificateUnavailable):
        log.warning("SNS message not verified yet: %s", error.reason)
        return answer(503, "UNAVAILABLE", error.reason)
    if isinstance(error, SnsRejected):
        log.warning("SNS message refused: %s", error.reason)
        return answer(403, "FORBIDDEN", error.reason)
    # Fail closed: what could not be verified is not acted on.
    log.exception("SNS message could not be verified")
    return answer(403, "FORBIDDEN", "message could not be verified")


async def handle(
    message: SnsMessage, on_object_created: OnObjectCreated, confirm: Confirm
) -> Response:
    if message.type is MessageType.SUBSCRIPTION_CONFIRMATION:
        return await confirm_topic(message, confirm)
    if message.type is MessageType.UNSUBSCRIBE_CONFIRMATION:
        log.warning("SNS unsubscribed this endpoint from %s", message.topic_arn)
    else:
        await deliver_created(message.message, on_object_created)
    return answer(200, "OK", "accepted")


async def confirm_topic(message: SnsMessage, confirm: Confirm) -> Response:
    url = message.subscribe_url or ""
    try:
        # Also checked by a verifying Verifier; repeated here because with signatures
        # off (emulators) this is the only thing between a message and a fetch.
        require_sns_url(url, "SubscribeURL")
    except SnsRejected as error:
        log.warning("SNS confirmation refused: %s", error.reason)
        return answer(403, "FORBIDDEN", error.reason)
    try:
        await confirm(url)
    except Exception:
        log.exception("confirming the SNS subscription to %s failed", message.topic_arn)
        return answer(502, "CONFIRMATION_FAILED", "the subscription could not be confirmed")
    log.info("confirmed the SNS subscription to %s", message.topic_arn)
    return answer(200, "OK", "subscription confirmed")


async def confirm_subscription(url: str, client: httpx.AsyncClient | None = None) -> None:
    """The default `confirm`: GET the SubscribeURL, after checking it once more."""
    checked = require_sns_url(url, "SubscribeURL")
    if client is None:
        async with httpx.AsyncClient() as owned:
            await _get_ok(owned, checked)
    else:
        await _get_ok(client, checked)


async def _get_ok(client: httpx.AsyncClient, url: httpx.URL) -> None:
    # No redirects: they would lead away from the host that was checked.
    response = await client.get(url, timeout=CONFIRM_TIMEOUT_SECONDS, follow_redirects=False)
    response.raise_for_status()


async def deliver_created(event_text: str, on_object_created: OnObjectCreated) -> None:
    """Calls back for each created object; one failing record does not stop the others
    (S3 and SNS deliver at least once, so the callback must tolerate duplicates)."""
    for bucket, key in created_objects(event_text):
        try:
            await on_object_created(bucket, key)
        except Exception:
            log.exception("handling the upload of s3://%s/%s failed", bucket, key)


def created_objects(event_text: str) -> list[tuple[str, str]]:
    """(bucket, decoded key) of each `ObjectCreated:*` record of an S3 event message."""
    try:
        event = json.loads(event_text)
    except ValueError:
        log.warning("SNS notification is not an S3 event; ignored")
        return []
    if not isinstance(event, dict) or event.get("Event") == TEST_EVENT:
        return []
    records = event.get("Records")
    if not isinstance(records, list):
        log.warning("S3 event without Records; ignored")
        return []
    return [found for record in records if (found := created_object(record)) is not None]


def created_object(record: Any) -> tuple[str, str] | None:
    name = _field(record, "eventName")
    if name is None or not name.startswith(CREATED_PREFIX):
        return None
    bucket = _field(record, "s3", "bucket", "name")
    key = _field(record, "s3", "object", "key")
    if bucket is None or key is None:
        log.warning("S3 %s record without bucket or key; ignored", name)
        return None
    # S3 sends keys form-encoded: `+` for a space, `%2F` for `/`.
    return bucket, unquote_plus(key)


def _field(value: Any, *path: str) -> str | None:
    for name in path:
        value = value.get(name) if isinstance(value, dict) else None
    return value if isinstance(value, str) else None


def answer(status: int, code: str, message: str) -> Response:
    if status == 200:
        return JSONResponse({"status": code, "message": message})
    return JSONResponse({"error": code, "message": message}, status)
