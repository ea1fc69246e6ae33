"""`POST /webhooks/sns` as the API mounts it: the verifier for the life of the process,
and S3 upload events turned into accepted (or refused) direct-upload jobs."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response

from imgflow.jobs import uploads
from imgflow.services import Services
from imgflow.settings import Settings
from imgflow.web.sns import SnsConfig, Verifier, build_webhook, parse_topics

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def sns_verifier(settings: Settings) -> AsyncIterator[Verifier]:
    config = SnsConfig(
        verify_signatures=settings.sns_verify_signatures,
        allowed_topics=parse_topics(settings.sns_allowed_topics),
        trusted_certificate_pem=settings.sns_trusted_certificate_pem,
    )
    if not config.verify_signatures:
        log.warning(
            "SNS SIGNATURE VERIFICATION IS OFF (IMGFLOW_SNS_VERIFY_SIGNATURES=false): anyone "
            "who can reach /webhooks/sns can announce uploads. Use this only with emulators."
        )
    verifier = Verifier.from_config(config)
    try:
        yield verifier
    finally:
        await verifier.aclose()


async def sns_webhook(request: Request) -> Response:
    """S3 upload events delivered by SNS start their jobs (see imgflow.web.sns)."""
    services: Services = request.app.state.services

    async def object_created(bucket: str, key: str) -> None:
        await uploads.object_created(services, key)

    endpoint = build_webhook(request.app.state.sns_verifier, object_created)
    return await endpoint(request)
