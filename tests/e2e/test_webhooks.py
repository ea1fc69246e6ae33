"""Webhooks end to end on both backend mixes: a real `imgflow serve` (and, on the
services, `imgflow api` + `worker` + `cron`) calls a real HTTP receiver on 127.0.0.1,
which checks every delivery with the `standardwebhooks` library receivers use."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from standardwebhooks import Webhook as Verifier

from tests.client import Client, GraphQLErrors
from tests.conftest import (
    ROOT,
    Server,
    migrate,
    new_user,
    process_env,
    start_imgflow,
    start_server,
    stop_server,
)
from tests.e2e.outbound import (
    CREATE,
    DELIVERIES,
    ROTATE,
    attempted,
    create,
    deliveries,
    finished,
    unique_path,
    verified,
    wait_for,
)
from tests.imaging import open_bytes, quadrants, similarity, to_bytes
from tests.receiver import Receiver, listening_socket


async def test_deliveries_are_signed_and_carry_the_job(
    user: Client, receiver: Receiver, hooked: Server
) -> None:
    path = unique_path("ok")
    webhook = await create(user, receiver.url + path, ["JOB_SUCCEEDED"])
    assert webhook["secret"].startswith("whsec_")
    assert (webhook["events"], webhook["disabledAt"]) == (["JOB_SUCCEEDED"], None)
    listed = (await user.execute("{ webhooks { id url secret } }"))["webhooks"]
    assert listed == [{"id": webhook["id"], "url": receiver.url + path, "secret": None}]

    source = quadrants(64, 48)
    job = await user.submit(to_bytes(source, "PNG"), ROTATE)
    assert (await finished(user, job["id"]))["status"] == "SUCCEEDED"
    [delivery] = await wait_for(receiver, path, 1, 20)
    payload = verified(delivery, webhook["secret"])
    assert delivery.headers["webhook-signature"].startswith("v1,")
    assert payload["type"] == "job.succeeded"
    shown = payload["data"]["job"]
    assert (shown["id"], shown["status"], shown["error"]) == (job["id"], "SUCCEEDED", None)
    # The result link in the payload downloads the rotated picture.
    picture = open_bytes((await user.http.get(shown["result"]["url"])).content)
    assert similarity(picture, source.rotate(90, expand=True)) > 0.99
    with pytest.raises(Exception, match="signature"):
        Verifier("whsec_" + "A" * 43).verify(delivery.body, delivery.headers)

    [attempt] = await attempted(user, webhook["id"], 1)
    assert (attempt["event"], attempt["statusCode"], attempt["error"]) == (
        "JOB_SUCCEEDED",
        204,
        None,
    )
    assert attempt["attemptedAt"] is not None
    assert attempt["nextAttemptAt"] is None
    scraped = (await user.http.get(f"{hooked.base_url}/metrics")).text
    counted = re.search(r'imgflow_webhook_attempts_total\{outcome="delivered"\} (\S+)', scraped)
    assert counted is not None
    assert float(counted.group(1)) >= 1


async def test_a_variant_jobs_delivery_lists_every_output(user: Client, receiver: Receiver) -> None:
    path = unique_path("outputs")
    webhook = await create(user, receiver.url + path, ["JOB_SUCCEEDED"])
    source = quadrants(640, 480)
    job = await user.submit_outputs(
        to_bytes(source, "PNG"),
        variants=[{"name": "thumb", "operations": [{"resize": {"width": 100}}]}],
        srcset={"widths": [320, 4000]},
        analyze=True,
    )
    assert (await finished(user, job["id"]))["status"] == "SUCCEEDED"
    [delivery] = await wait_for(receiver, path, 1, 20)
    shown = verified(delivery, webhook["secret"])["data"]["job"]
    assert shown["analysis"]["frames"] == 1
    assert shown["analysis"]["hasAlpha"] is False
    assert len(shown["analysis"]["dominantColors"]) >= 4  # the four quadrants' colours
    assert [o["name"] for o in shown["outputs"]] == ["thumb", "w320"]
    assert shown["skippedWidths"] == [4000]
    for output, width in zip(shown["outputs"], (100, 320), strict=True):
        picture = open_bytes((await user.http.get(output["image"]["url"])).content)
        assert picture.width == output["image"]["width"] == width
        assert similarity(picture, source.resize(picture.size)) > 0.95


async def test_a_failing_receiver_gets_the_third_try(user: Client, receiver: Receiver) -> None:
    path = unique_path("flaky")
    receiver.failures[path] = 2
    webhook = await create(user, receiver.url + path)
    job = await user.submit(to_bytes(quadrants(), "PNG"), ROTATE)
    assert (await finished(user, job["id"]))["status"] == "SUCCEEDED"
    tries = await wait_for(receiver, path, 3, 30)
    assert len({t.headers["webhook-id"] for t in tries}) == 1, "one message, tried three times"
    for delivery in tries:
        assert verified(delivery, webhook["secret"])["data"]["job"]["id"] == job["id"]
    attempts = await attempted(user, webhook["id"], 3)
    await asyncio.sleep(2)  # no fourth try comes
    assert [a["statusCode"] for a in attempts] == [204, 500, 500]
    assert [a["error"] for a in attempts] == [None, "answered 500", "answered 500"]
    assert attempts[0]["nextAttemptAt"] is None
    assert all(a["nextAttemptAt"] for a in attempts[1:])
    assert len(receiver.posted(path)) == 3

    page = await user.execute(DELIVERIES, {"id": webhook["id"], "first": 2})
    after = page["webhookDeliveries"]["pageInfo"]["endCursor"]
    rest = await user.execute(DELIVERIES, {"id": webhook["id"], "first": 2, "after": after})
    assert [e["node"]["statusCode"] for e in rest["webhookDeliveries"]["edges"]] == [500]

    again = (
        await user.execute(
            "mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { id attemptedAt } }",
            {"id": attempts[0]["id"]},
        )
    )["redeliverWebhook"]
    assert again["attemptedAt"] is None
    fourth = (await wait_for(receiver, path, 4, 20))[-1]
    assert fourth.headers["webhook-id"] == tries[0].headers["webhook-id"]


async def test_a_silent_receiver_does_not_slow_jobs(
    fresh: dict[str, str], receiver: Receiver, tmp_path: Path
) -> None:
    """Deliveries to a receiver that does not answer hang for the whole timeout (30 s
    here); meanwhile every job finishes and another endpoint gets all its deliveries."""
    silent, ok = unique_path("silent"), unique_path("prompt")
    receiver.silent.add(silent)
    server = start_server(tmp_path, {**fresh, "IMGFLOW_WEBHOOK_TIMEOUT_SECONDS": "30"})
    try:
        client = await new_user(server.base_url)
        hanging = await create(client, receiver.url + silent)
        await create(client, receiver.url + ok)
        jobs = [await client.submit(to_bytes(quadrants(), "PNG"), ROTATE) for _ in range(6)]
        ends = await asyncio.gather(*(finished(client, job["id"]) for job in jobs))
        assert {end["status"] for end in ends} == {"SUCCEEDED"}
        await wait_for(receiver, ok, 6, 20)
        await wait_for(receiver, silent, 6, 20)  # all six held open at once
        held = await deliveries(client, hanging["id"])
        assert [d["attemptedAt"] for d in held] == [None] * 6, "still waiting for answers"
        receiver.silent.discard(silent)
        deadline = time.monotonic() + 20
        while {d["statusCode"] for d in held} != {204} and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            held = await deliveries(client, hanging["id"])
        assert [d["statusCode"] for d in held] == [204] * 6
        await client.close()
    finally:
        receiver.silent.discard(silent)
        stop_server(server)
    assert "Traceback" not in server.log(), server.tracebacks()


async def test_refused_and_limited_endpoints(user: Client, receiver: Receiver) -> None:
    with listening_socket() as listener:
        for url in (
            f"http://127.0.0.1:{listener.port}/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::ffff:127.0.0.1]:80/",
            "http://10.0.0.1/",
        ):
            with pytest.raises(GraphQLErrors) as refused:
                await create(user, url)
            assert refused.value.codes == ["FETCH_REFUSED"], url
        assert listener.accepted() == 0
    for url, events in (
        ("ftp://example.com/", None),
        ("http://user:secret@example.com/", None),
        ("http://[::1/", None),
        ("http://example.com:99999/", None),
        ("/relative", None),
        (receiver.url + "/no-events", []),
    ):
        with pytest.raises(GraphQLErrors) as bad:
            await user.execute(
                CREATE, {"url": url, "events": ["JOB_FAILED"] if events is None else events}
            )
        assert bad.value.codes == ["BAD_USER_INPUT"], url
    made = [await create(user, receiver.url + unique_path("n")) for _ in range(3)]
    with pytest.raises(GraphQLErrors) as limited:
        await create(user, receiver.url + "/one-too-many")
    assert limited.value.codes == ["TOO_MANY_WEBHOOKS"]
    deleted = await user.execute(
        "mutation($id: ID!) { deleteWebhook(id: $id) { id } }", {"id": made[0]["id"]}
    )
    assert deleted["deleteWebhook"]["id"] == made[0]["id"]
    await create(user, receiver.url + unique_path("n"))
    with pytest.raises(GraphQLErrors) as missing:
        await deliveries(user, made[0]["id"])
    assert missing.value.codes == ["NOT_FOUND"]
    for variables in ({"first": 0}, {"first": 101}, {"after": "not-a-cursor"}):
        with pytest.raises(GraphQLErrors) as bad_page:
            await user.execute(DELIVERIES, {"id": made[1]["id"], **variables})
        assert bad_page.value.codes == ["BAD_USER_INPUT"], variables


async def test_b_cannot_reach_a_webhook(user: Client, hooked: Server, receiver: Receiver) -> None:
    path = unique_path("a-only")
    webhook = await create(user, receiver.url + path)
    job = await user.submit(to_bytes(quadrants(), "PNG"), ROTATE)
    await finished(user, job["id"])
    await wait_for(receiver, path, 1, 20)
    [delivery] = await deliveries(user, webhook["id"])
    other = await new_user(hooked.base_url)
    try:
        assert (await other.execute("{ webhooks { id } }"))["webhooks"] == []
        for operation, target in (
            ("mutation($id: ID!) { deleteWebhook(id: $id) { id } }", webhook["id"]),
            ("mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { id } }", delivery["id"]),
            (DELIVERIES, webhook["id"]),
        ):
            with pytest.raises(GraphQLErrors) as refused:
                await other.execute(operation, {"id": target})
            assert refused.value.codes == ["NOT_FOUND"]
        # B's own endpoint hears nothing of A's jobs.
        mine = unique_path("b-only")
        await create(other, receiver.url + mine)
        job = await user.submit(to_bytes(quadrants(), "PNG"), ROTATE)
        await finished(user, job["id"])
        await wait_for(receiver, path, 2, 20)
        assert receiver.posted(mine) == []
    finally:
        await other.close()
    assert len(await deliveries(user, webhook["id"])) == 2


async def test_a_killed_process_does_not_lose_a_delivery(
    fresh: dict[str, str], receiver: Receiver, tmp_path: Path
) -> None:
    """The receiver holds the first attempt open; the process is killed (SIGKILL)
    meanwhile; the next process delivers the same message."""
    path = unique_path("survivor")
    receiver.silent.add(path)
    first = start_server(tmp_path, fresh)
    try:
        client = await new_user(first.base_url)
        webhook = await create(client, receiver.url + path)
        job = await client.submit(to_bytes(quadrants(), "PNG"), ROTATE)
        assert (await finished(client, job["id"]))["status"] == "SUCCEEDED"
        [held] = await wait_for(receiver, path, 1, 20)
    finally:
        first.process.kill()
        first.process.wait()
    receiver.silent.discard(path)
    second = start_server(tmp_path, fresh)
    try:
        retried = (await wait_for(receiver, path, 2, 30))[-1]
        assert retried.headers["webhook-id"] == held.headers["webhook-id"]
        payload = verified(retried, webhook["secret"])
        assert payload["data"]["job"]["id"] == job["id"]
        await client.close()
    finally:
        stop_server(second)


def readme_receiver() -> str:
    """The receiver example in the README, as printed."""
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"```python\n(import os\nfrom http\.server.*?)```", readme, re.DOTALL)
    assert found, "the README's receiver example is missing"
    return found.group(1)


def wait_listening(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise AssertionError(f"the README receiver did not start: {process.communicate()}")


async def test_the_readme_receiver_verifies_deliveries(
    user: Client, readme_port: socket.socket, tmp_path: Path
) -> None:
    port = readme_port.getsockname()[1]
    printed = readme_receiver()
    script = printed.replace('("", 8001)', f'("127.0.0.1", {port})')
    assert script != printed
    (tmp_path / "receiver.py").write_text(script)
    webhook = await create(user, f"http://127.0.0.1:{port}/", ["JOB_SUCCEEDED"])
    env = {**os.environ, "WEBHOOK_SECRET": webhook["secret"]}
    readme_port.close()  # the example binds it now
    process = subprocess.Popen(
        [sys.executable, "receiver.py"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        await asyncio.to_thread(wait_listening, port, process)
        forged = await user.http.post(
            f"http://127.0.0.1:{port}/",
            content=b"{}",
            headers={"webhook-id": "x", "webhook-timestamp": str(int(time.time()))}
            | {"webhook-signature": "v1,AAAA"},
        )
        assert forged.status_code == 401
        job = await user.submit(to_bytes(quadrants(), "PNG"), ROTATE)
        assert (await finished(user, job["id"]))["status"] == "SUCCEEDED"
        assert process.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 20)
        assert line.split() == ["job.succeeded", job["id"]]
    finally:
        process.terminate()
        process.wait()


@pytest.mark.parametrize("backend", ["services"], indirect=True)
async def test_cron_delivers_what_a_killed_worker_owed(
    fresh: dict[str, str], receiver: Receiver, tmp_path: Path
) -> None:
    """The multi-process deployment: the worker ends the job and is killed (SIGKILL)
    before any sender runs; `imgflow cron`, started afterwards, delivers the webhook."""
    migrate(fresh, tmp_path)
    api = start_imgflow(tmp_path / "api", fresh, "api")
    worker = start_imgflow(tmp_path / "worker", fresh, "worker")
    path = unique_path("cron")
    cron = None
    try:
        client = await new_user(api.base_url)
        webhook = await create(client, receiver.url + path)
        job = await client.submit(to_bytes(quadrants(), "PNG"), ROTATE)
        assert (await finished(client, job["id"]))["status"] == "SUCCEEDED"
        worker.process.kill()
        worker.process.wait()
        await asyncio.sleep(1)
        assert receiver.posted(path) == [], "neither the API nor the worker sends webhooks"
        cron = subprocess.Popen(
            [sys.executable, "-m", "imgflow.cli", "cron"],
            env=process_env(fresh),
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        [delivery] = await wait_for(receiver, path, 1, 30)
        payload = verified(delivery, webhook["secret"])
        assert (payload["type"], payload["data"]["job"]["id"]) == ("job.succeeded", job["id"])
        await client.close()
    finally:
        if cron is not None:
            cron.terminate()
            cron.wait(timeout=15)
        if worker.alive():
            stop_server(worker)
        stop_server(api)
