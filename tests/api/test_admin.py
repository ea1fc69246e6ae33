"""The admin role: `imgflow create-user --admin` makes an operator, who alone may read
system statistics and any user's job."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from tests.client import Client, GraphQLErrors
from tests.conftest import Server
from tests.imaging import quadrants, to_bytes

PASSWORD = "correct horse battery"
STATS = """
query($w: Int) {
  systemStats(windowMinutes: $w) {
    windowMinutes
    queues { queue queued processing succeeded failed throughputPerMinute
             latencyP50Seconds latencyP95Seconds }
    failuresByCode { code count }
  }
}
"""
ANY_JOB = "query($id: ID!) { anyJob(id: $id) { id status } }"


def create_user(
    server: Server, backend: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    """`imgflow create-user`, against the same database as the server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGFLOW_")} | backend
    return subprocess.run(
        [sys.executable, "-m", "imgflow.cli", "create-user", *args, "--password-stdin"],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        cwd=server.workdir,
        env=env,
        check=False,
    )


@pytest.fixture
async def admin(server: Server, backend: dict[str, str]) -> Client:
    email = f"ops-{uuid.uuid4().hex[:8]}@example.com"
    done = create_user(server, backend, email, "--admin")
    assert done.returncode == 0, done.stderr
    assert f"created admin {email}" in done.stdout
    operator = Client(server.base_url)
    data = await operator.execute(
        "mutation($e: String!, $p: String!) {"
        " login(email: $e, password: $p) { token user { isAdmin } } }",
        {"e": email, "p": PASSWORD},
    )
    assert data["login"]["user"]["isAdmin"] is True
    operator.token = data["login"]["token"]
    return operator


async def test_admin_reads_stats_and_any_job(admin: Client, client: Client) -> None:
    job = await client.submit(to_bytes(quadrants(), "PNG"), [{"rotate": {"degrees": 90}}])
    await client.watch(job["id"])
    broken = await client.submit(to_bytes(quadrants(), "PNG")[:60], [{"rotate": {"degrees": 90}}])
    await client.watch(broken["id"])

    seen = (await admin.execute(ANY_JOB, {"id": job["id"]}))["anyJob"]
    assert seen == {"id": job["id"], "status": "SUCCEEDED"}

    stats = (await admin.execute(STATS, {"w": 60}))["systemStats"]
    assert stats["windowMinutes"] == 60
    rotate = next(q for q in stats["queues"] if q["queue"] == "ROTATE")
    assert rotate["succeeded"] >= 1
    assert rotate["failed"] >= 1
    assert rotate["latencyP50Seconds"] > 0
    assert rotate["latencyP95Seconds"] >= rotate["latencyP50Seconds"]
    failures = {f["code"]: f["count"] for f in stats["failuresByCode"]}
    assert failures.get("CORRUPT_IMAGE", 0) >= 1, failures
    await admin.close()


@pytest.mark.parametrize("query", [STATS, ANY_JOB], ids=["systemStats", "anyJob"])
async def test_others_are_forbidden(client: Client, query: str) -> None:
    with pytest.raises(GraphQLErrors) as caught:
        await client.execute(query, {"id": "x", "w": 15})
    assert caught.value.codes == ["FORBIDDEN"]
    client.token = None
    with pytest.raises(GraphQLErrors) as caught:
        await client.execute(query, {"id": "x", "w": 15})
    assert caught.value.codes == ["UNAUTHENTICATED"]


async def test_create_user_refuses_a_taken_email(server: Server, backend: dict[str, str]) -> None:
    email = f"twice-{uuid.uuid4().hex[:8]}@example.com"
    assert create_user(server, backend, email).returncode == 0
    again = create_user(server, backend, email, "--admin")
    assert again.returncode != 0
    assert "EMAIL_TAKEN" in again.stderr
