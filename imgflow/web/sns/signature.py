"""The signature of an SNS message: the string AWS signs, and its RSA check (version 1
with SHA1, version 2 with SHA256).

https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from imgflow.web.sns.messages import MessageType, SnsMessage

SIGNATURE_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "1": hashes.SHA1,
    "2": hashes.SHA256,
}
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


def is_supported(message: SnsMessage) -> bool:
    """Whether the message's `SignatureVersion` is one this module can check."""
    return message.signature_version in SIGNATURE_HASHES


def string_to_sign(message: SnsMessage, *, include_subject: bool = True) -> bytes:
    """AWS's canonical form: `name\\nvalue\\n` for each signed field present, in order."""
    keys = NOTIFICATION_KEYS if message.type is MessageType.NOTIFICATION else CONFIRMATION_KEYS
    fields = message.signed_fields()
    if not include_subject:
        fields.pop("Subject", None)
    return "".join(f"{key}\n{fields[key]}\n" for key in keys if key in fields).encode()


def signature_matches(
    message: SnsMessage, key: rsa.RSAPublicKey, *, include_subject: bool = True
) -> bool:
    """Whether `key` signed the message; its version must be supported (`is_supported`)."""
    algorithm = SIGNATURE_HASHES[message.signature_version]()
    data = string_to_sign(message, include_subject=include_subject)
    try:
        key.verify(message.signature, data, padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        return False
    return True
