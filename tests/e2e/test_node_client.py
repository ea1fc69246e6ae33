"""Clients nobody here wrote, against the live service: `graphql-ws` (with `ws`) in
Node, driving documents typed by `@graphql-codegen/cli` (client preset) from the
committed schema and compiled with `tsc --strict`.

The npm packages are pinned by tests/clients/package-lock.json and installed by the
test command (`npm ci`). A schema change that breaks the example operations fails
generation or compilation here.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.client import Client
from tests.conftest import ROOT, Server
from tests.imaging import quadrants, to_bytes

CLIENTS = ROOT / "tests" / "clients"


def npx(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["npx", "--no-install", *args],
        cwd=CLIENTS,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.fixture(scope="session")
def typed_client() -> Path:
    """Generate the typed documents from schema.graphql and compile with tsc --strict."""
    if shutil.which("node") is None or not (CLIENTS / "node_modules").exists():
        message = (
            "Node.js or tests/clients/node_modules missing: run `npm ci --prefix tests/clients`"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    shutil.rmtree(CLIENTS / "generated", ignore_errors=True)
    shutil.rmtree(CLIENTS / "build", ignore_errors=True)
    generated = npx("graphql-codegen", "--config", "codegen.ts")
    assert generated.returncode == 0, generated.stdout + generated.stderr
    compiled = npx("tsc", "-p", "tsconfig.json")
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    return CLIENTS / "build" / "src" / "watch.js"


async def test_graphql_ws_client_follows_a_real_job(
    typed_client: Path, server: Server, client: Client
) -> None:
    ws_url = server.base_url.replace("http", "ws", 1) + "/graphql"
    assert client.token is not None
    node = await asyncio.create_subprocess_exec(
        "node",
        str(typed_client),
        ws_url,
        client.token,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert node.stdin is not None
    assert node.stdout is not None
    try:
        ready = json.loads(await asyncio.wait_for(node.stdout.readline(), 30))
        assert ready == {"ready": True}
        job = await client.submit(to_bytes(quadrants(), "PNG"), [{"convert": {"format": "WEBP"}}])
        node.stdin.write(f"{job['id']}\n".encode())
        await node.stdin.drain()
        out, err = await asyncio.wait_for(node.communicate(), 60)
    finally:
        if node.returncode is None:
            node.kill()
            await node.wait()
    assert node.returncode == 0, (out, err)
    events = [json.loads(line) for line in out.decode().splitlines()]
    one_job = [e for e in events if e["stream"] == "jobUpdated"]
    per_user = [e for e in events if e["stream"] == "jobsUpdated"]
    assert one_job[-1] == {
        "stream": "jobUpdated",
        "id": job["id"],
        "status": "SUCCEEDED",
        "format": "WEBP",
    }
    assert [e["status"] for e in per_user if e["id"] == job["id"]][-1] == "SUCCEEDED"
    assert {e["id"] for e in per_user} == {job["id"]}


def test_a_breaking_schema_change_fails_the_typed_client(
    typed_client: Path, tmp_path: Path
) -> None:
    """Renaming a field the example operations use must break generation."""
    schema = (ROOT / "schema.graphql").read_text()
    assert "jobUpdated(" in schema
    broken = tmp_path / "schema.graphql"
    broken.write_text(schema.replace("jobUpdated(", "jobChanged("))
    result = npx("graphql-codegen", "--config", "codegen.ts", env={"IMGFLOW_SCHEMA": str(broken)})
    assert result.returncode != 0
    assert "jobUpdated" in result.stdout + result.stderr


async def test_graphql_ws_client_follows_a_variant_jobs_progress(
    typed_client: Path, server: Server, client: Client
) -> None:
    """The typed Node client on the per-user stream sees a job with two variants and a
    srcset arrive output by output: progress counts up one stored output per event, and
    the last event carries the srcset attribute."""
    progress = typed_client.with_name("progress.js")
    ws_url = server.base_url.replace("http", "ws", 1) + "/graphql"
    assert client.token is not None
    node = await asyncio.create_subprocess_exec(
        "node",
        str(progress),
        ws_url,
        client.token,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert node.stdin is not None
    assert node.stdout is not None
    try:
        ready = json.loads(await asyncio.wait_for(node.stdout.readline(), 30))
        assert ready == {"ready": True}
        # A first job proves the subscription is live before the one under test.
        probe = await client.submit(to_bytes(quadrants(), "PNG"), [{"rotate": {"degrees": 90}}])
        while json.loads(await asyncio.wait_for(node.stdout.readline(), 30))["id"] != probe["id"]:
            pass
        job = await client.submit_outputs(
            to_bytes(quadrants(640, 480), "PNG"),
            operations=[{"flip": {"direction": "HORIZONTAL"}}],
            variants=[
                {"name": "card", "operations": [{"resize": {"width": 200, "height": 200}}]},
                {"name": "webp", "operations": [{"convert": {"format": "WEBP"}}]},
            ],
            srcset={"widths": [160, 320]},
        )
        node.stdin.write(f"{job['id']}\n".encode())
        await node.stdin.drain()
        out, err = await asyncio.wait_for(node.communicate(), 90)
    finally:
        if node.returncode is None:
            node.kill()
            await node.wait()
    assert node.returncode == 0, (out, err)
    events = [json.loads(line) for line in out.decode().splitlines()]
    mine = [e for e in events if e["id"] == job["id"]]
    assert [e["status"] for e in mine] == ["QUEUED", *["PROCESSING"] * 4, "SUCCEEDED"]
    assert [e["done"] for e in mine] == [0, 0, 1, 2, 3, 4]
    assert {e["total"] for e in mine} == {4}
    assert [len(e["stored"]) for e in mine] == [0, 0, 1, 2, 3, 4]
    last = mine[-1]
    assert sorted(last["stored"]) == ["card", "w160", "w320", "webp"]
    assert sorted(last["widths"]) == [160, 200, 320, 640]
    assert [entry.rsplit(" ", 1)[1] for entry in last["srcset"].split(", ")] == ["160w", "320w"]
