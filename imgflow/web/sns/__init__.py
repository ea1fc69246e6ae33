"""Amazon SNS: the verified webhook through which S3 announces direct uploads."""

from __future__ import annotations

from imgflow.web.sns.certificates import CertificateCache, CertificateUnavailable, require_sns_url
from imgflow.web.sns.messages import (
    MalformedMessage,
    MessageType,
    SnsMessage,
    SnsRejected,
    parse,
    parse_topics,
)
from imgflow.web.sns.verify import SnsConfig, Verifier
from imgflow.web.sns.webhook import build_webhook, confirm_subscription

__all__ = [
    "CertificateCache",
    "CertificateUnavailable",
    "MalformedMessage",
    "MessageType",
    "SnsConfig",
    "SnsMessage",
    "SnsRejected",
    "Verifier",
    "build_webhook",
    "confirm_subscription",
    "parse",
    "parse_topics",
    "require_sns_url",
]
