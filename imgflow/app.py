"""The ASGI application: GraphQL (HTTP + WebSocket), GraphiQL, files, health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from gql.limits import limits_extension
from gql.schema import build_schema
from gql.view import GraphQLApp
from imgflow import housekeeping, signing, uploads
from imgflow.db import ping_database
from imgflow.downloads import download_for
from imgflow.errors import ErrorCode, ImgflowError
from imgflow.graphiql import assets_routes
from imgflow.http_limits import BodySizeLimit
from imgflow.live import PAGE_PATH, live_routes
from imgflow.metrics_endpoint import metrics_route
from imgflow.services import Services, open_services
from imgflow.settings import Settings
from imgflow.sns import SnsConfig, Verifier, build_webhook, parse_topics
from imgflow.storage import ObjectMissing
from workers.runtime import Worker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Roles:
    """What this process runs. `serve` runs all three; `api` and `worker` one each."""

    api: bool = True
    workers: bool = True
    housekeeping: bool = True


ALL_ROLES = Roles()


def create_app(
    settings: Settings, roles: Roles = ALL_ROLES, base_url: str | None = None
) -> Starlette:
    """The process's HTTP side; `base_url`, where it listens, is named in the log once the
    roles run (a newcomer's first question is where to go)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_services(settings) as services, sns_verifier(settings) as verifier:
            app.state.services = services
            app.state.sns_verifier = verifier
            async with run_roles(services, roles):
                if base_url is not None:
                    log.info("ready: %s", ", ".join(addresses(settings, roles, base_url)))
                yield

    routes: list[BaseRoute] = [Route("/healthz", healthz), Route("/readyz", readyz)]
    if settings.metrics_enabled:
        # Every process on its own port (see imgflow.metrics); queue depth where the API is.
        routes.append(metrics_route(queue_depth=roles.api))
    if roles.api:
        routes += api_routes(settings)
    return Starlette(routes=routes, lifespan=lifespan, middleware=http_middleware(settings))


def addresses(settings: Settings, roles: Roles, base_url: str) -> list[str]:
    named = []
    if roles.api:
        playground = " (GraphiQL in a browser)" if settings.graphiql_enabled else ""
        named += [f"GraphQL {base_url}/graphql{playground}", f"live page {base_url}{PAGE_PATH}"]
    if settings.metrics_enabled:
        named.append(f"metrics {base_url}/metrics")
    return [*named, f"health {base_url}/healthz"]


def api_routes(settings: Settings) -> list[BaseRoute]:
    graphql = GraphQLApp(
        build_schema(limits_extension(settings)),
        graphql_ide="graphiql" if settings.graphiql_enabled else None,  # None: GET page 404s
        allowed_origins=settings.allowed_origins,  # WebSocket handshakes (CORS skips them)
        multipart_uploads_enabled=True,
        max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
    )
    return [
        # Where a browser pointed at the bare address should land: the live page.
        Route("/", lambda _request: RedirectResponse(PAGE_PATH), methods=["GET", "HEAD"]),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/files/{key:path}", serve_file, methods=["GET", "HEAD"]),
        Route("/uploads", receive_upload, methods=["POST"]),
        Route("/webhooks/sns", sns_webhook, methods=["POST"]),
        *(assets_routes() if settings.graphiql_enabled else ()),
        *live_routes(settings),  # an app, not a dev tool: on in production too
    ]


def http_middleware(settings: Settings) -> list[Middleware]:
    """CORS outermost, so even a 413 reaches a permitted page readable."""
    cors = Middleware(
        CORSMiddleware,
        allow_origins=settings.allowed_origins,
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type"],
        allow_credentials=False,  # bearer tokens, never cookies (see Settings.allowed_origins)
        max_age=600,
    )
    return [cors, Middleware(BodySizeLimit, max_bytes=settings.request_byte_limit)]


@contextlib.asynccontextmanager
async def run_roles(services: Services, roles: Roles) -> AsyncIterator[None]:
    worker = Worker(services)
    if roles.workers:
        await worker.start(services.settings.concurrency)
    keeper = asyncio.create_task(housekeeping.run_forever(services)) if roles.housekeeping else None
    try:
        yield
    finally:
        if keeper is not None:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
        await worker.stop(services.settings.shutdown_grace_seconds)


async def serve_file(request: Request) -> Response:
    """Files of the local storage, behind HMAC-signed, expiring URLs."""
    services: Services = request.app.state.services
    key = request.path_params["key"]
    expires = request.query_params.get("expires", "")
    signature = request.query_params.get("signature", "")
    if not signing.verify(services.settings.secret(), key, expires, signature):
        return refusal(403, "FORBIDDEN", "invalid or expired link")
    try:
        data = await services.storage.get(key)
    except ObjectMissing:
        return refusal(404, "NOT_FOUND", "no such file")
    download = download_for(key)
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": download.disposition,
        "Cache-Control": "private, max-age=3600",
    }
    return Response(data, media_type=download.content_type, headers=headers)


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
    """S3 upload events delivered by SNS start their jobs (see imgflow.sns)."""
    services: Services = request.app.state.services

    async def object_created(bucket: str, key: str) -> None:
        await uploads.object_created(services, key)

    endpoint = build_webhook(request.app.state.sns_verifier, object_created)
    return await endpoint(request)


FORM_OVERHEAD_BYTES = 16 * 1024
"""Room for the policy fields and multipart boundaries around the file itself."""


UPLOADS_IN_FLIGHT: set[str] = set()
"""Keys being written by /uploads now: the embedded backends live in one process."""


def refusal(status: int, code: str, message: str) -> Response:
    return JSONResponse({"error": code, "message": message}, status)


async def receive_upload(request: Request) -> Response:
    """The embedded stand-in for S3's presigned POST: same form, same limits, checked
    against an HMAC-signed, expiring policy."""
    services: Services = request.app.state.services
    declared = request.headers.get("content-length", "")
    limit = services.settings.max_upload_bytes
    if declared.isdigit() and int(declared) > limit + FORM_OVERHEAD_BYTES:
        return refusal(413, "PAYLOAD_TOO_LARGE", f"uploads are limited to {limit} bytes")
    async with request.form(max_files=1, max_fields=8) as form:
        fields = {name: value for name, value in form.items() if isinstance(value, str)}
        if not signing.verify_upload_policy(services.settings.secret(), fields):
            return refusal(403, "FORBIDDEN", "invalid or expired upload policy")
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            return refusal(400, "BAD_USER_INPUT", "the form needs a `file` part")
        allowed = int(fields["max_bytes"])
        data = await upload.read(allowed + 1)
    if len(data) > allowed:
        return refusal(413, "PAYLOAD_TOO_LARGE", f"uploads are limited to {allowed} bytes")
    if not data:
        return refusal(400, "EMPTY_FILE", "the file is empty")
    key = fields["key"]
    if key in UPLOADS_IN_FLIGHT:  # the same form posted twice at once
        return refusal(409, ErrorCode.UPLOAD_ALREADY_USED.value, "this upload form is in use")
    UPLOADS_IN_FLIGHT.add(key)
    try:
        await uploads.check_form_unused(services, key)
        await services.storage.put(key, data, "application/octet-stream")
    except ImgflowError as error:
        return refusal(409, error.code.value, error.message)
    finally:
        UPLOADS_IN_FLIGHT.discard(key)
    return Response(status_code=204)


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    services: Services = request.app.state.services
    checks = {
        "database": ping_database(services.engine),
        "storage": services.storage.ping(),
        "broker": services.broker.ping(),
        "events": services.events.ping(),
    }
    results = await asyncio.gather(*checks.values(), return_exceptions=True)
    status = {
        name: "ok" if not isinstance(result, BaseException) else f"error: {result!r}"
        for name, result in zip(checks, results, strict=True)
    }
    ready = all(value == "ok" for value in status.values())
    return JSONResponse({"ready": ready, "checks": status}, 200 if ready else 503)
