"""Observability from outside: `/metrics` scraped from real processes and parsed with
prometheus_client's own parser, `queueStats`, and the job id on every log line of a job."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.backends import postgres_database
from tests.client import Client, GraphQLErrors
from tests.conftest import Server, migrate, new_user, start_imgflow, start_server, stop_server
from tests.imaging import quadrants, to_bytes
from tests.unit.test_alerts import alerting_rules, dashboard_targets, selectors

QUEUES = ("ROTATE", "RESIZE", "FORCE_RESIZE", "CONVERT")
ROTATE = [{"rotate": {"degrees": 90}}]
PNG = to_bytes(quadrants(), "PNG")
TRUNCATED_PNG = PNG[:60]  # headers pass at submission; decoding fails in the worker
QUEUE_STATS = """
query($w: Int!) {
  queueStats(windowMinutes: $w) {
    windowMinutes
    queues { queue queued processing throughputPerMinute latencyP50Seconds latencyP95Seconds }
  }
}
"""
CANCEL = "mutation($id: ID!) { cancelJob(id: $id) { id } }"
HISTOGRAMS = (
    "imgflow_job_queue_wait_seconds",
    "imgflow_job_processing_seconds",
    "imgflow_job_end_to_end_seconds",
)


@dataclass(frozen=True)
class Scrape:
    values: dict[tuple[str, frozenset[tuple[str, str]]], float]

    @classmethod
    def of(cls, base_url: str) -> Scrape:
        response = httpx.get(f"{base_url}/metrics", timeout=10)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain")
        values = {
            (sample.name, frozenset(sample.labels.items())): float(sample.value)
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        }
        return cls(values)

    # The metric's name is positional-only: `name` is also one of our labels.
    def get(self, metric: str, /, **labels: str) -> float:
        return self.values.get((metric, frozenset(labels.items())), 0.0)

    def has(self, metric: str, /, **labels: str) -> bool:
        return (metric, frozenset(labels.items())) in self.values

    def names(self) -> set[str]:
        return {name for name, _ in self.values}

    def minus(self, before: Scrape, metric: str, /, **labels: str) -> float:
        return self.get(metric, **labels) - before.get(metric, **labels)


async def finished(client: Client, data: bytes) -> dict[str, Any]:
    job = await client.submit(data, ROTATE)
    return (await asyncio.wait_for(client.watch(job["id"]), timeout=60))[-1]


async def test_serve_counts_jobs_timings_and_graphql_errors(server: Server, client: Client) -> None:
    before = Scrape.of(server.base_url)
    ok = await finished(client, PNG)
    broken = await finished(client, TRUNCATED_PNG)
    assert (ok["status"], broken["status"]) == ("SUCCEEDED", "FAILED")
    assert broken["error"]["code"] == "CORRUPT_IMAGE"
    with pytest.raises(GraphQLErrors) as caught:
        await client.execute(CANCEL, {"id": str(uuid.uuid4())})
    assert caught.value.codes == ["NOT_FOUND"]
    with pytest.raises(GraphQLErrors):
        await client.execute("query Typo { nope }")
    after = Scrape.of(server.base_url)

    finished_total = "imgflow_jobs_finished_total"
    assert after.minus(before, finished_total, queue="ROTATE", status="SUCCEEDED") == 1
    assert after.minus(before, finished_total, queue="ROTATE", status="FAILED") == 1
    failures = "imgflow_job_failures_total"
    assert after.minus(before, failures, queue="ROTATE", code="CORRUPT_IMAGE") == 1
    for histogram in HISTOGRAMS:
        assert after.minus(before, f"{histogram}_count", queue="ROTATE") == 2, histogram
        assert after.minus(before, f"{histogram}_bucket", queue="ROTATE", le="+Inf") == 2
    assert after.minus(before, "imgflow_job_processing_seconds_sum", queue="ROTATE") > 0
    assert after.minus(before, "imgflow_job_end_to_end_seconds_sum", queue="ROTATE") >= (
        after.minus(before, "imgflow_job_processing_seconds_sum", queue="ROTATE")
    )

    errors = "imgflow_graphql_errors_total"
    assert after.minus(before, errors, code="NOT_FOUND") == 1
    assert after.minus(before, errors, code="BAD_USER_INPUT") == 1
    operations = "imgflow_graphql_operations_total"
    assert after.minus(before, operations, type="mutation", name="Submit") == 2
    assert after.minus(before, operations, type="subscription", name="anonymous") == 2
    assert after.minus(before, operations, type="query", name="Typo") == 1

    # `serve` is API and workers in one: the whole set on its one port.
    assert after.get("imgflow_worker_slots", queue="ROTATE") == 2  # the fixture's concurrency
    assert after.get("imgflow_worker_busy_slots", queue="ROTATE") == 0
    assert all(after.has("imgflow_queue_depth", queue=q) for q in QUEUES)
    assert after.get("process_resident_memory_bytes") > 0


def test_alerts_and_dashboard_read_what_a_real_process_serves(server: Server) -> None:
    """deploy/prometheus and deploy/grafana name series of this very /metrics (the unit
    test checks them against the registry; this, against a running `imgflow serve`)."""
    text = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    families = {family.name for family in text_string_to_metric_families(text)}
    expressions = [rule["expr"] for rule in alerting_rules()]
    expressions += [target["expr"] for _panel, target in dashboard_targets()]
    for expr in expressions:
        for selector in selectors(expr):
            family = re.sub(r"_(total|bucket|sum|count)$", "", selector.name)
            assert family in families, (expr, selector.name)


async def test_queue_stats_for_any_signed_in_user(server: Server, client: Client) -> None:
    assert (await finished(client, PNG))["status"] == "SUCCEEDED"
    overview = (await client.execute(QUEUE_STATS, {"w": 30}))["queueStats"]
    assert overview["windowMinutes"] == 30
    assert [q["queue"] for q in overview["queues"]] == list(QUEUES)
    rotate = overview["queues"][0]
    assert rotate["throughputPerMinute"] >= round(1 / 30, 3)
    assert 0 < rotate["latencyP50Seconds"] <= rotate["latencyP95Seconds"] < 60
    for queue in overview["queues"]:
        assert queue["queued"] >= 0
        assert queue["processing"] >= 0

    with pytest.raises(GraphQLErrors) as caught:
        await client.execute(QUEUE_STATS, {"w": 0})
    assert caught.value.codes == ["BAD_USER_INPUT"]
    anonymous = Client(server.base_url)
    with pytest.raises(GraphQLErrors) as caught:
        await anonymous.execute(QUEUE_STATS, {"w": 30})
    assert caught.value.codes == ["UNAUTHENTICATED"]
    await anonymous.close()


@contextmanager
def database_of_its_own(backend: dict[str, str]) -> Iterator[dict[str, str]]:
    """Exact depths need a database no other test's jobs are in (embedded: the workdir's)."""
    if "IMGFLOW_DATABASE_URL" not in backend:
        yield {}
        return
    with postgres_database() as url:
        yield {"IMGFLOW_DATABASE_URL": url}


@pytest.fixture
def idle_server(backend: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    """`serve` with no worker slots: what is submitted stays QUEUED."""
    with database_of_its_own(backend) as database:
        env = {
            **backend,
            **database,
            "IMGFLOW_NAMESPACE": f"idle-{uuid.uuid4().hex[:8]}",
            "IMGFLOW_QUEUE_STATS_CACHE_SECONDS": "60",
        }
        idle = start_server(
            tmp_path, env, "--concurrency", "convert=0,rotate=0,resize=0,force_resize=0"
        )
        try:
            yield idle
        finally:
            stop_server(idle)


async def test_queue_depth_and_subscriptions_of_an_idle_server(idle_server: Server) -> None:
    client = await new_user(idle_server.base_url)
    empty = (await client.execute(QUEUE_STATS, {"w": 15}))["queueStats"]["queues"]
    assert {q["queue"]: (q["queued"], q["processing"]) for q in empty} == dict.fromkeys(
        QUEUES, (0, 0)
    )
    assert all(q["throughputPerMinute"] == 0 and q["latencyP50Seconds"] is None for q in empty)

    waiting = [await client.submit(PNG, ROTATE) for _ in range(2)]
    await client.submit(PNG, [{"convert": {"format": "WEBP"}}])
    cached = (await client.execute(QUEUE_STATS, {"w": 15}))["queueStats"]["queues"]
    assert cached == empty, "the same window within the cache time is answered from memory"
    fresh = (await client.execute(QUEUE_STATS, {"w": 16}))["queueStats"]["queues"]
    assert {q["queue"]: q["queued"] for q in fresh} == {
        "ROTATE": 2,
        "RESIZE": 0,
        "FORCE_RESIZE": 0,
        "CONVERT": 1,
    }
    scrape = Scrape.of(idle_server.base_url)
    depths = {q: scrape.get("imgflow_queue_depth", queue=q) for q in QUEUES}
    assert depths == {"ROTATE": 2, "RESIZE": 0, "FORCE_RESIZE": 0, "CONVERT": 1}
    # The longest wait per queue: growing while the jobs wait, 0 where none does.
    oldest = "imgflow_queue_oldest_age_seconds"
    assert all(scrape.has(oldest, queue=q) for q in QUEUES)
    ages = {q: scrape.get(oldest, queue=q) for q in QUEUES}
    assert ages["ROTATE"] >= ages["CONVERT"] > 0
    assert ages["RESIZE"] == ages["FORCE_RESIZE"] == 0
    await asyncio.sleep(1.0)
    later = Scrape.of(idle_server.base_url)
    assert later.get(oldest, queue="ROTATE") >= ages["ROTATE"] + 0.9  # wall clock vs sleep
    assert later.get(oldest, queue="RESIZE") == 0
    assert scrape.has("imgflow_notifications_pending")
    assert scrape.get("imgflow_notifications_pending") == 0  # notifications are off
    assert {scrape.get("imgflow_worker_slots", queue=q) for q in QUEUES} == {0}

    active = "imgflow_graphql_subscriptions_active"
    assert scrape.get(active, field="jobUpdated") == 0
    query = "subscription($id: ID!) { jobUpdated(id: $id) { status } }"
    async with client.subscription(query, {"id": waiting[0]["id"]}) as events:
        first = await anext(aiter(events))
        assert first["jobUpdated"]["status"] == "QUEUED"
        assert Scrape.of(idle_server.base_url).get(active, field="jobUpdated") == 1
    for _ in range(50):  # the server sees the socket close a moment later
        if Scrape.of(idle_server.base_url).get(active, field="jobUpdated") == 0:
            break
        await asyncio.sleep(0.1)
    assert Scrape.of(idle_server.base_url).get(active, field="jobUpdated") == 0

    # An error sent inside a subscription's stream is counted like one over HTTP.
    before = Scrape.of(idle_server.base_url)
    with pytest.raises(GraphQLErrors) as caught:
        async with client.subscription(query, {"id": str(uuid.uuid4())}) as events:
            await anext(aiter(events))
    assert caught.value.codes == ["NOT_FOUND"]
    after = Scrape.of(idle_server.base_url)
    assert after.minus(before, "imgflow_graphql_errors_total", code="NOT_FOUND") == 1
    await client.close()


# --- separate processes on the real services ---------------------------------------


REQUEST_UPLOAD = """mutation($ops: [OperationInput!]!) {
  requestUpload(filename: "a.png", contentType: "image/png", operations: $ops) {
    job { id } url fields { name value } } }"""
CONFIRM = "mutation($id: ID!) { confirmUpload(jobId: $id) { id status } }"


@pytest.fixture
def api_and_worker(backend: dict[str, str], tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    """One `imgflow api` and one `imgflow worker`, JSON logs. The worker's first two
    source reads fail and a job gets two attempts: the first job retries, then is
    dead-lettered."""
    env = {
        **backend,
        "IMGFLOW_NAMESPACE": f"metrics-{uuid.uuid4().hex[:8]}",
        "IMGFLOW_LOG_JSON": "true",
    }
    migrate(env, tmp_path)
    faulty = {
        **env,
        "IMGFLOW_FAULT_INJECTION": "storage_get:2",
        "IMGFLOW_MAX_ATTEMPTS": "2",
        "IMGFLOW_RETRY_BASE_SECONDS": "0.5",
    }
    api = start_imgflow(tmp_path / "api", env, "api")
    try:
        concurrency = ("--concurrency", "convert=1,rotate=1,resize=1,force_resize=1")
        worker = start_imgflow(tmp_path / "worker", faulty, "worker", *concurrency)
        try:
            yield api, worker
        finally:
            stop_server(worker)
    finally:
        stop_server(api)


async def upload_directly(client: Client) -> str:
    ticket = (await client.execute(REQUEST_UPLOAD, {"ops": ROTATE}))["requestUpload"]
    fields = {f["name"]: f["value"] for f in ticket["fields"]}
    posted = await client.http.post(ticket["url"], data=fields, files={"file": ("a", PNG)})
    assert posted.status_code in (200, 201, 204), posted.text
    confirmed = (await client.execute(CONFIRM, {"id": ticket["job"]["id"]}))["confirmUpload"]
    assert confirmed["status"] == "QUEUED"
    return str(confirmed["id"])


def messages_by_job(log: str) -> dict[str, list[str]]:
    by_job: dict[str, list[str]] = defaultdict(list)
    for line in log.splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if "job_id" in entry:
                by_job[entry["job_id"]].append(entry["message"])
    return by_job


@pytest.mark.parametrize("backend", ["services"], indirect=True)
async def test_worker_process_exposes_its_jobs_and_logs_carry_job_ids(
    api_and_worker: tuple[Server, Server],
) -> None:
    api, worker = api_and_worker
    client = await new_user(api.base_url)
    given_up = await finished(client, PNG)  # takes both injected faults
    assert given_up["error"]["code"] == "PROCESSING_FAILED"
    ok = await finished(client, PNG)
    broken = await finished(client, TRUNCATED_PNG)
    uploaded = await upload_directly(client)
    via_upload = (await asyncio.wait_for(client.watch(uploaded), timeout=60))[-1]
    statuses = [ok["status"], broken["status"], via_upload["status"]]
    assert statuses == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
    await client.close()

    mine = Scrape.of(worker.base_url)
    finished_total = "imgflow_jobs_finished_total"
    assert mine.get(finished_total, queue="ROTATE", status="SUCCEEDED") == 2
    assert mine.get(finished_total, queue="ROTATE", status="FAILED") == 2
    failures = "imgflow_job_failures_total"
    assert mine.get(failures, queue="ROTATE", code="PROCESSING_FAILED") == 1
    assert mine.get(failures, queue="ROTATE", code="CORRUPT_IMAGE") == 1
    for histogram in HISTOGRAMS:
        assert mine.get(f"{histogram}_count", queue="ROTATE") == 4, histogram
    assert mine.get("imgflow_worker_slots", queue="ROTATE") == 1
    assert mine.get("imgflow_worker_busy_slots", queue="ROTATE") == 0  # after retry, dead letter
    assert "imgflow_graphql_operations_total" not in mine.names()
    assert "imgflow_queue_depth" not in mine.names()  # the API's figure

    theirs = Scrape.of(api.base_url)
    assert theirs.get("imgflow_graphql_operations_total", type="mutation", name="Submit") == 3
    assert all(theirs.has("imgflow_queue_depth", queue=q) for q in QUEUES)
    assert finished_total not in theirs.names()  # no job ended in the API process

    api_says, worker_says = messages_by_job(api.log()), messages_by_job(worker.log())
    assert {"job submitted", "job published"} <= set(api_says[ok["id"]])
    assert {"job started", "job succeeded"} <= set(worker_says[ok["id"]])
    assert {"upload requested", "upload accepted", "job published"} <= set(api_says[uploaded])
    assert {"job started", "job succeeded"} <= set(worker_says[uploaded])
    assert any(m.startswith("job failed: ") for m in worker_says[broken["id"]])
    retried = worker_says[given_up["id"]]
    assert any(m.startswith("job attempt 1 failed") for m in retried), retried
    assert any(m.startswith("message will be redelivered") for m in retried), retried
    assert any(m.startswith("message dead-lettered") for m in retried), retried
