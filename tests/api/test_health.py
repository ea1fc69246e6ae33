"""Health endpoints for load balancers and orchestrators."""

from __future__ import annotations

import httpx

from tests.conftest import Server


async def test_alive_and_ready(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        ready = await http.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] is True
    assert body["checks"] == {"database": "ok", "storage": "ok", "broker": "ok", "events": "ok"}
