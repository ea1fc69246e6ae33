"""`imgflow cron` keeps accepted jobs moving on the real services: a job whose message
was lost is published again, and a job held by a worker that died is reclaimed."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.backends import postgres_database
from tests.conftest import migrate, new_user, start_imgflow, stop_server
from tests.imaging import quadrants
from tests.imaging import to_bytes as encode


async def sql(database_url: str, statement: str, *args: object) -> None:
    connection = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        await connection.execute(statement, *args)
    finally:
        await connection.close()


@pytest.fixture
def own_database(backend: dict[str, str]) -> Iterator[dict[str, str]]:
    """The services mix on a database of its own: the session's `imgflow serve` shares
    the mix's database, and its housekeeping (every 30 s) could take this test's stale
    jobs first and announce them in its own namespace, where the test does not listen
    (seen once in a full run: the 60 s wait ran out)."""
    with postgres_database() as database:
        yield {**backend, "IMGFLOW_DATABASE_URL": database}


@pytest.mark.parametrize("backend", ["services"], indirect=True)
async def test_cron_requeues_lost_and_reclaims_abandoned_jobs(
    own_database: dict[str, str], tmp_path: Path
) -> None:
    backend = own_database
    namespace = f"cron-{uuid.uuid4().hex[:8]}"
    env = {**backend, "IMGFLOW_NAMESPACE": namespace}
    migrate(env, tmp_path)

    # Accept two jobs while no worker runs, then lose their messages.
    api = start_imgflow(tmp_path / "api", env, "api")
    client = await new_user(api.base_url)
    image = encode(quadrants(), "PNG")
    lost = await client.submit(image, [{"rotate": {"degrees": 90}}])
    abandoned = await client.submit(image, [{"rotate": {"degrees": 270}}])
    purge = ["rabbitmqctl", "purge_queue", f"{namespace}.rotate"]
    subprocess.run(purge, check=True, capture_output=True)

    database = backend["IMGFLOW_DATABASE_URL"]
    # One looks committed long ago and never published; the other looks held by a
    # worker that died an hour ago, after its first attempt.
    await sql(
        database, "UPDATE jobs SET updated_at = now() - interval '1 hour' WHERE id = $1", lost["id"]
    )
    await sql(
        database,
        "UPDATE jobs SET status = 'PROCESSING', attempts = 1, "
        "lease_until = now() - interval '1 hour' WHERE id = $1",
        abandoned["id"],
    )

    worker = start_imgflow(tmp_path / "worker", env, "worker")
    cron = subprocess.Popen(
        [sys.executable, "-m", "imgflow.cli", "cron"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        finals = await asyncio.wait_for(
            asyncio.gather(client.watch(lost["id"]), client.watch(abandoned["id"])), timeout=60
        )
        assert [events[-1]["status"] for events in finals] == ["SUCCEEDED", "SUCCEEDED"]
        assert finals[0][-1]["attempts"] == 1
        assert finals[1][-1]["attempts"] == 2
    finally:
        cron.terminate()
        cron.wait(timeout=15)
        stop_server(worker)
        stop_server(api)
        await client.close()
