"""Whether an SNS message is genuine and for us: the message rules (`messages`), the
signing certificate (`certificates`) and the signature (`signature`), in order of cost.

No Starlette here: `imgflow.web.sns.webhook` only translates HTTP in and out. The format is
AWS's: https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric import rsa

from imgflow.web.sns.certificates import CertificateCache, load_certificate, require_sns_url
from imgflow.web.sns.messages import (
    MAX_AGE,
    RecentIds,
    SnsMessage,
    SnsRejected,
    require_allowed_topic,
    require_fresh,
)
from imgflow.web.sns.signature import is_supported, signature_matches


@dataclass(frozen=True)
class SnsConfig:
    """What the webhook needs from settings (the caller fills it from `IMGFLOW_SNS_*`)."""

    verify_signatures: bool = True
    allowed_topics: frozenset[str] = frozenset()
    trusted_certificate_pem: str | None = None


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
        require_allowed_topic(message, self._topics)
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
        if not is_supported(message):
            raise SnsRejected("unsupported SignatureVersion")
        require_sns_url(message.signing_cert_url, "SigningCertURL")
        if message.subscribe_url is not None:
            require_sns_url(message.subscribe_url, "SubscribeURL")
        if message.is_confirmation:
            self._check_fresh(message)

    def _check_fresh(self, message: SnsMessage) -> None:
        require_fresh(message, self._clock(), self._max_age)
        if message.message_id in self._seen:
            raise SnsRejected("confirmation already seen")

    def _check_signature(self, message: SnsMessage, key: rsa.RSAPublicKey) -> None:
        if signature_matches(message, key, include_subject=True):
            return
        # moto signs without `Subject` (see STACK-NOTES). Tolerated only with a configured
        # trusted certificate, i.e. an emulator or test set-up, never against real SNS.
        emulated = self._trusted is not None and message.subject is not None
        if emulated and signature_matches(message, key, include_subject=False):
            return
        raise SnsRejected("signature does not match")
