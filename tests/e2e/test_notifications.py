"""Completion notifications on the real services: `imgflow serve` finishes jobs and
queues their announcements on arq; `imgflow cron` publishes them to an SNS topic
(moto), which an SQS queue subscribes to. The queue stands in for a subscriber."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.client import Client
from tests.conftest import free_port, new_user, start_server, stop_server
from tests.imaging import quadrants, to_bytes
from tests.integration.moto import MOTO_REGION, start_moto

MOTO_ACCOUNT = "123456789012"  # moto's default account: part of every ARN it makes
ROTATE = [{"rotate": {"degrees": 90}}]
PENDING = "imgflow_notifications_pending"


def aws(service: str, endpoint_url: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=MOTO_REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@dataclass
class Subscriber:
    """An SQS queue subscribed to the topic (raw delivery off: bodies are SNS envelopes)."""

    sqs: Any
    queue_url: str

    def receive(self, expected: int, timeout: float, quiet: float = 2.0) -> list[dict[str, Any]]:
        """Envelopes until `expected` arrived (or `timeout`), then `quiet` more seconds
        of listening so that a duplicate would be caught too."""
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(messages) >= expected:
                deadline = min(deadline, time.monotonic() + quiet)
            answer = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            )
            for message in answer.get("Messages", []):
                messages.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return messages


def subscribe(endpoint_url: str, topic_name: str) -> tuple[str, Subscriber]:
    """Create the topic (idempotent: same name, same ARN) and a queue subscribed to it."""
    sns, sqs = aws("sns", endpoint_url), aws("sqs", endpoint_url)
    topic_arn = str(sns.create_topic(Name=topic_name)["TopicArn"])
    queue_url = str(sqs.create_queue(QueueName=topic_name)["QueueUrl"])
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=attributes["Attributes"]["QueueArn"])
    return topic_arn, Subscriber(sqs, queue_url)


@dataclass
class Deployment:
    client: Client
    owner_id: str
    cron: subprocess.Popen[bytes]
    cron_log: Path

    def cron_output(self) -> str:
        return self.cron_log.read_text(errors="replace")


@contextmanager
def cron_process(workdir: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    workdir.mkdir(parents=True, exist_ok=True)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("IMGFLOW_")} | env
    with (workdir / "cron.log").open("ab") as log_file:
        cron = subprocess.Popen(
            [sys.executable, "-m", "imgflow.cli", "cron"],
            cwd=workdir,
            env=full_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        yield cron
    finally:
        # A stopped process would hold SIGTERM pending: let it run again first.
        cron.send_signal(signal.SIGCONT)
        cron.terminate()
        try:
            cron.wait(timeout=15)
        except subprocess.TimeoutExpired:
            cron.kill()
            cron.wait()


@asynccontextmanager
async def deployment(tmp_path: Path, env: dict[str, str]) -> AsyncIterator[Deployment]:
    """`imgflow serve` (migrates, then runs the workers) and `imgflow cron`, one user."""
    api = start_server(tmp_path / "api", env)
    try:
        with cron_process(tmp_path / "cron", env) as cron:
            client = await new_user(api.base_url)
            try:
                me = await client.execute("{ me { id } }")
                yield Deployment(client, me["me"]["id"], cron, tmp_path / "cron" / "cron.log")
            finally:
                await client.close()
    finally:
        stop_server(api)
    assert "Traceback" not in api.log(), api.tracebacks()


def truncated_jpeg() -> bytes:
    """Headers intact (ingest accepts it), scan data cut: the worker fails it."""
    data = to_bytes(quadrants(400, 300), "JPEG", quality=95)
    return data[: len(data) // 2]


async def run_jobs(deploy: Deployment) -> dict[str, dict[str, Any]]:
    """One job that succeeds and one that fails; their final states by id."""
    good = await deploy.client.submit(to_bytes(quadrants(), "PNG"), ROTATE)
    bad = await deploy.client.submit(truncated_jpeg(), ROTATE)
    finals = await asyncio.wait_for(
        asyncio.gather(deploy.client.watch(good["id"]), deploy.client.watch(bad["id"])),
        timeout=30,
    )
    states = {events[-1]["id"]: events[-1] for events in finals}
    assert states[good["id"]]["status"] == "SUCCEEDED"
    assert states[bad["id"]]["status"] == "FAILED"
    assert states[bad["id"]]["error"]["code"] == "CORRUPT_IMAGE"
    return states


def check_notifications(
    envelopes: list[dict[str, Any]], topic_arn: str, states: dict[str, dict[str, Any]], owner: str
) -> None:
    """Exactly one notification per finished job, body and status attribute right."""
    bodies = {}
    for envelope in envelopes:
        assert envelope["Type"] == "Notification"
        assert envelope["TopicArn"] == topic_arn
        body = json.loads(envelope["Message"])
        assert body["jobId"] not in bodies, f"duplicate notification: {body}"
        assert envelope["MessageAttributes"]["status"] == {
            "Type": "String",
            "Value": body["status"],
        }
        assert envelope["MessageAttributes"]["queue"]["Value"] == "ROTATE"
        bodies[body["jobId"]] = body
    assert set(bodies) == set(states)
    for job_id, state in states.items():
        body = bodies[job_id]
        assert body["status"] == state["status"]
        assert body["ownerId"] == owner
        assert body["queue"] == "ROTATE"
        assert body["attempts"] == state["attempts"] == 1
        assert body["finishedAt"] is not None
        if state["status"] == "SUCCEEDED":
            result = state["result"]
            assert body["error"] is None
            assert body["result"]["key"]
            assert {k: body["result"][k] for k in ("width", "height", "bytes", "frames")} == {
                k: result[k] for k in ("width", "height", "bytes", "frames")
            }
            assert body["result"]["format"] == result["format"]
        else:
            assert body["result"] is None
            assert body["error"] == state["error"]


def notify_env(backend: dict[str, str], topic_arn: str, sns_endpoint_url: str) -> dict[str, str]:
    return {
        **backend,
        "IMGFLOW_NAMESPACE": f"notify-{uuid.uuid4().hex[:8]}",
        "IMGFLOW_SNS_NOTIFY_TOPIC_ARN": topic_arn,
        "IMGFLOW_SNS_ENDPOINT_URL": sns_endpoint_url,
    }


@pytest.mark.parametrize("backend", ["services"], indirect=True)
async def test_subscriber_receives_one_message_per_finished_job(
    backend: dict[str, str], tmp_path: Path
) -> None:
    moto_url = backend["IMGFLOW_S3_ENDPOINT_URL"]  # the same moto serves SNS and SQS
    topic_arn, subscriber = subscribe(moto_url, f"imgflow-done-{uuid.uuid4().hex[:8]}")
    async with deployment(tmp_path, notify_env(backend, topic_arn, moto_url)) as deploy:
        states = await run_jobs(deploy)
        envelopes = subscriber.receive(expected=len(states), timeout=20)
        check_notifications(envelopes, topic_arn, states, deploy.owner_id)
        assert "Traceback" not in deploy.cron_output(), deploy.cron_output()


def failed_tries(log: str, job_ids: set[str]) -> set[str]:
    """Jobs whose notification the cron has already tried and failed to publish."""
    return {
        job_id
        for line in log.splitlines()
        if "completion notification failed" in line
        for job_id in job_ids
        if job_id in line
    }


@pytest.mark.parametrize("backend", ["services"], indirect=True)
async def test_jobs_finish_while_sns_is_down_and_messages_follow_when_it_is_back(
    backend: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()  # nothing listens here until the late moto starts
    sns_url = f"http://127.0.0.1:{port}"
    topic_name = f"imgflow-late-{uuid.uuid4().hex[:8]}"
    topic_arn = f"arn:aws:sns:{MOTO_REGION}:{MOTO_ACCOUNT}:{topic_name}"
    async with deployment(tmp_path, notify_env(backend, topic_arn, sns_url)) as deploy:
        states = await run_jobs(deploy)  # both finish: SNS is not in the job path

        deadline = time.monotonic() + 15
        while failed_tries(deploy.cron_output(), set(states)) != set(states):
            assert time.monotonic() < deadline, deploy.cron_output()
            await asyncio.sleep(0.2)

        # The outbox's backlog, as alerts see it (deploy/prometheus).
        assert pending_notifications(deploy.client.base_url) == len(states)

        # Freeze the cron while SNS comes back: a retry landing between create_topic and
        # subscribe would be published to a topic with no subscriber, and lost.
        deploy.cron.send_signal(signal.SIGSTOP)
        late_moto = start_moto(log_dir=tmp_path, port=port)
        try:
            late_arn, subscriber = subscribe(sns_url, topic_name)
            assert late_arn == topic_arn
            deploy.cron.send_signal(signal.SIGCONT)
            envelopes = subscriber.receive(expected=len(states), timeout=30)
            check_notifications(envelopes, topic_arn, states, deploy.owner_id)
            deadline = time.monotonic() + 10  # notified_at is written just after publishing
            while pending_notifications(deploy.client.base_url) != 0:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.2)
        finally:
            late_moto.stop()


def pending_notifications(base_url: str) -> float:
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    (family,) = (f for f in text_string_to_metric_families(text) if f.name == PENDING)
    (sample,) = family.samples
    return float(sample.value)


@pytest.mark.parametrize("backend", ["services"], indirect=True)
async def test_a_notification_lost_with_redis_is_queued_again(
    backend: dict[str, str], tmp_path: Path
) -> None:
    """Redis restarted empty between a job's end and the cron's turn (this machine's
    Redis keeps nothing on disk): the job row still says "not announced", housekeeping
    queues the message again, and the subscriber gets it once."""
    import redis

    moto_url = backend["IMGFLOW_S3_ENDPOINT_URL"]
    topic_arn, subscriber = subscribe(moto_url, f"imgflow-lost-{uuid.uuid4().hex[:8]}")
    env = {
        **notify_env(backend, topic_arn, moto_url),
        "IMGFLOW_NOTIFY_RESEND_AFTER_SECONDS": "2",
        "IMGFLOW_HOUSEKEEPING_INTERVAL_SECONDS": "1",
    }
    api = start_server(tmp_path / "api", env)  # no cron yet: nothing publishes
    client = await new_user(api.base_url)
    store = redis.Redis.from_url(backend["IMGFLOW_REDIS_URL"])
    try:
        owner = (await client.execute("{ me { id } }"))["me"]["id"]
        states = await run_jobs(Deployment(client, owner, None, tmp_path))  # type: ignore[arg-type]
        queue = f"{env['IMGFLOW_NAMESPACE']}:arq"
        deadline = time.monotonic() + 10
        while store.zcard(queue) < len(states):  # queued once each (just after the event)...
            assert time.monotonic() < deadline, api.log()
            await asyncio.sleep(0.05)
        for job_id in states:  # ...and lost
            for key in store.scan_iter(f"arq:*notify:{job_id}:*"):
                store.delete(key)
        store.delete(queue)

        deadline = time.monotonic() + 20
        while store.zcard(queue) < len(states):  # housekeeping notices
            assert time.monotonic() < deadline, api.log()
            await asyncio.sleep(0.2)
        await asyncio.sleep(2)  # more housekeeping passes: still only these jobs are owed
        # (the run's other jobs, finished with notifications off, are not announced)
        assert store.zcard(queue) == len(states)
        with cron_process(tmp_path / "cron", env):
            envelopes = subscriber.receive(expected=len(states), timeout=20)
        check_notifications(envelopes, topic_arn, states, owner)
    finally:
        store.close()
        await client.close()
        stop_server(api)
