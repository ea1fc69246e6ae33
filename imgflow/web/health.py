"""Health for load balancers and orchestrators: alive, and ready (every backend answers)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from imgflow.db import ping_database
from imgflow.services import Services


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
