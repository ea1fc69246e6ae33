"""SNS HTTP(S) messages: parsing a delivery, and the rules a message must meet before
its signature is worth checking (a topic we accept, a confirmation neither stale nor
seen before).

The format is AWS's: https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

MAX_AGE = timedelta(hours=1)
"""Confirmations older than this are refused as possible replays."""
CLOCK_SKEW = timedelta(minutes=5)


class SnsRejected(Exception):
    """A message refused; `reason` is short and safe to send back to the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MalformedMessage(SnsRejected):
    """The body is not an SNS message at all (a client error, not a forgery)."""


class MessageType(StrEnum):
    """The body's `Type`: emulators send no `x-amz-sns-message-type` header."""

    NOTIFICATION = "Notification"
    """A message published to the topic."""
    SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
    """SNS asks the endpoint to confirm by fetching `SubscribeURL`."""
    UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"
    """The subscription was removed."""


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


# -- message rules ------------------------------------------------------------------


def parse_topics(text: str) -> frozenset[str]:
    """`IMGFLOW_SNS_ALLOWED_TOPICS`: comma-separated topic ARNs; empty refuses all."""
    return frozenset(filter(None, (part.strip() for part in text.split(","))))


def require_allowed_topic(message: SnsMessage, allowed_topics: frozenset[str]) -> None:
    if message.topic_arn not in allowed_topics:
        raise SnsRejected("topic not allowed")


def require_fresh(message: SnsMessage, now: datetime, max_age: timedelta) -> None:
    """Refuses a message sent more than `max_age` ago, or later than clocks can differ."""
    if message.sent_at < now - max_age:
        raise SnsRejected("message is too old")
    if message.sent_at > now + CLOCK_SKEW:
        raise SnsRejected("message is from the future")


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
