"""The ASGI application: GraphQL (HTTP + WebSocket), GraphiQL, files, health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute

from gql.query_limits import limits_extension
from gql.view import GraphQLApp
from imgflow.jobs import housekeeping
from imgflow.services import Services, open_services
from imgflow.settings import Settings
from imgflow.web.body_limit import BodySizeLimit
from imgflow.web.files import receive_upload, serve_file
from imgflow.web.graphiql import assets_routes
from imgflow.web.health import healthz, readyz
from imgflow.web.live import PAGE_PATH, live_routes
from imgflow.web.metrics_endpoint import metrics_route
from imgflow.web.sns.route import sns_verifier, sns_webhook
from imgflow.webhooks.sender import Sender
from resolvers.schema import build_schema
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
    background = []
    if roles.housekeeping:
        background.append(asyncio.create_task(housekeeping.run_forever(services)))
        # Webhooks go out beside housekeeping, never from an image worker's slot.
        background.append(asyncio.create_task(Sender(services).run_forever()))
    try:
        yield
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await worker.stop(services.settings.shutdown_grace_seconds)
