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


async def test_the_bare_address_leads_to_the_live_page(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        landing = await http.get("/")
        assert landing.status_code in (302, 307)
        assert landing.headers["location"] == "/live"
        assert (await http.get("/", follow_redirects=True)).url.path == "/live"


def test_the_start_up_log_names_where_to_go_without_terminal_codes(server: Server) -> None:
    log = server.log()
    ready = next(line for line in log.splitlines() if "ready: " in line)
    for path in ("/graphql", "/live", "/metrics", "/healthz"):
        assert f"{server.base_url}{path}" in ready
    assert "\x1b[" not in log  # uvicorn's colour codes stay out of the log
