"""Signing SNS messages the way AWS does, with a key pair and certificate made here,
for tests of the verifier and the webhook. AWS's certificate host cannot be reached
from here, so `CertificateHost` fakes it behind an httpx MockTransport."""

from __future__ import annotations

import base64
import functools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

TOPIC = "arn:aws:sns:us-east-1:123456789012:imgflow-uploads"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem"
SUBSCRIBE_URL = (
    f"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=abc123"
)
S3_EVENT = json.dumps({"Records": [{"eventName": "ObjectCreated:Post"}]})

# The fields AWS signs, per type, in AWS's order (written out again here rather than
# imported, so a mistake in the module is not mirrored by the test).
SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
SIGNED["UnsubscribeConfirmation"] = SIGNED["SubscriptionConfirmation"]


@functools.cache
def private_key(name: str) -> rsa.RSAPrivateKey:
    """One key pair per name, made once per run (2048-bit generation is slow)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def certificate_pem(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def aws_timestamp(moment: datetime) -> str:
    """AWS's form: `2012-04-26T20:45:04.751Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Signer:
    """Builds SNS message bodies and signs them the way AWS documents."""

    key: rsa.RSAPrivateKey = field(default_factory=lambda: private_key("sns"))
    version: str = "2"
    cert_url: str = CERT_URL
    counter: int = 0

    def sign(self, fields: dict[str, str], *, omit_subject: bool = False) -> dict[str, str]:
        names = [n for n in SIGNED[fields["Type"]] if n in fields]
        if omit_subject:  # what moto does
            names.remove("Subject")
        text = "".join(f"{name}\n{fields[name]}\n" for name in names).encode()
        algorithm = hashes.SHA1() if self.version == "1" else hashes.SHA256()
        signature = self.key.sign(text, padding.PKCS1v15(), algorithm)
        return {
            **fields,
            "SignatureVersion": self.version,
            "Signature": base64.b64encode(signature).decode(),
            "SigningCertURL": self.cert_url,
        }

    def base(self, kind: str, *, sent_at: datetime | None = None) -> dict[str, str]:
        self.counter += 1
        return {
            "Type": kind,
            "MessageId": f"00000000-0000-0000-0000-{self.counter:012d}",
            "TopicArn": TOPIC,
            "Timestamp": aws_timestamp(sent_at or datetime.now(UTC)),
        }

    def notification(self, message: str = S3_EVENT, subject: str | None = None) -> dict[str, str]:
        fields = {**self.base("Notification"), "Message": message}
        if subject is not None:
            fields["Subject"] = subject
        return self.sign(fields)

    def confirmation(
        self,
        kind: str = "SubscriptionConfirmation",
        *,
        subscribe_url: str = SUBSCRIBE_URL,
        sent_at: datetime | None = None,
    ) -> dict[str, str]:
        fields = {
            **self.base(kind, sent_at=sent_at),
            "Message": f"You have chosen to subscribe to the topic {TOPIC}.",
            "SubscribeURL": subscribe_url,
            "Token": "abc123",
        }
        return self.sign(fields)


def body(fields: dict[str, str]) -> bytes:
    return json.dumps(fields).encode()


class CertificateHost:
    """A fake of AWS's certificate host: serves `pem` for any certificate name, records
    requests."""

    def __init__(self, pem: bytes) -> None:
        self.pem = pem
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.startswith("/SimpleNotificationService-"):
            return httpx.Response(200, content=self.pem)
        return httpx.Response(404)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self))
