"""The fault suite's deployment: real `imgflow api`, `worker` and `cron` processes on
services of their own, so breaking them disturbs nothing else on the machine.

- RabbitMQ: a virtual host per test module (so `close_all_connections -p <vhost>` cuts
  only these processes), deleted with everything in it at the end.
- PostgreSQL: a database per test (so `pg_terminate_backend` hits only its sessions).
- Redis: a `redis-server` of the test's own on its own port (stopped and restarted).
- S3: a moto server per module, reached through a TcpProxy the test can cut.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import boto3

from tests.backends import POSTGRES_ADMIN_URL, SECRET, postgres_database, services_env_checks
from tests.conftest import Server, migrate, process_env, start_imgflow, stop_server
from tests.faults.proxy import TcpProxy, free_port
from tests.integration.moto import MotoServer, start_moto
from tests.integration.services import require_service

AMQP_BASE = os.environ.get("IMGFLOW_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
FAULT_SETTINGS = {
    # Short enough that recovery shows up within a test, long enough not to fire by itself.
    "IMGFLOW_LEASE_SECONDS": "3",
    "IMGFLOW_REQUEUE_AFTER_SECONDS": "3",
    "IMGFLOW_HOUSEKEEPING_INTERVAL_SECONDS": "1",
    "IMGFLOW_SHUTDOWN_GRACE_SECONDS": "5",
    "IMGFLOW_RETRY_BASE_SECONDS": "1",
    "IMGFLOW_LOG_JSON": "true",
}
WORKER_CONCURRENCY = "convert=2,rotate=2,resize=2,force_resize=2"
"""Fixed slots. Under `auto` each worker reads its queues' depths every second (a
channel and a passive declare per queue), and across this suite's back-to-back clusters
that churn left RabbitMQ slow to accept a new connection to the suite's vhost (seen in
full runs: a later cluster's start-up waiting over 20 s on it). Auto slots are tested in
tests/e2e/test_auto_slots.py and by the multi-host test."""


def rabbitmqctl(*args: str) -> str:
    done = subprocess.run(
        ["rabbitmqctl", *args], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


@dataclass
class FaultServices:
    """What one test module shares: a vhost, moto behind a proxy, a bucket."""

    vhost: str
    moto: MotoServer
    proxy: TcpProxy
    bucket: str

    @property
    def amqp_url(self) -> str:
        return AMQP_BASE.rstrip("/") + "/" + quote(self.vhost, safe="")

    def s3(self) -> object:
        """A boto3 client straight to moto (not through the proxy): the test's own view."""
        return boto3.client(
            "s3",
            endpoint_url=self.moto.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@contextmanager
def fault_services() -> Iterator[FaultServices]:
    services_env_checks()
    require_service("rabbitmqctl", lambda: shutil.which("rabbitmqctl") is not None)
    require_service("redis-server", lambda: shutil.which("redis-server") is not None)
    vhost = f"imgflow-faults-{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", vhost)
    moto = start_moto()
    proxy = TcpProxy("127.0.0.1", int(moto.endpoint_url.rsplit(":", 1)[1]))
    proxy.start()
    try:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        services = FaultServices(vhost, moto, proxy, f"imgflow-faults-{uuid.uuid4().hex[:8]}")
        services.s3().create_bucket(Bucket=services.bucket)  # type: ignore[attr-defined]
        yield services
    finally:
        proxy.stop()
        moto.stop()
        rabbitmqctl("delete_vhost", vhost)


@dataclass
class Redis:
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.workdir),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            done = subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True
            )
            if done.stdout.strip() == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # an outage, not a shutdown: no goodbye to the clients
            self.process.wait()
        self.process = None


@dataclass
class Cluster:
    """One api, two workers and one cron process on this test's services."""

    env: dict[str, str]
    services: FaultServices
    redis: Redis
    database: str
    workdir: Path
    api: Server | None = None
    workers: list[Server] = field(default_factory=list)
    cron: subprocess.Popen[bytes] | None = None

    @property
    def prefix(self) -> str:
        return self.env["IMGFLOW_STORAGE_URL"].split("/", 3)[3]

    def start_worker(self, name: str) -> Server:
        worker = start_imgflow(
            self.workdir / name, self.env, "worker", "--concurrency", WORKER_CONCURRENCY
        )
        self.workers.append(worker)
        return worker

    def start(self) -> None:
        # cron starts alongside the others (it used to wait for them: 1.5-2 s a fault);
        # it needs only the migrated database and Redis, both ready before this.
        with ThreadPoolExecutor(4) as pool:
            cron = pool.submit(self.start_cron)
            api = pool.submit(start_imgflow, self.workdir / "api", self.env, "api")
            workers = [pool.submit(self.start_worker, f"worker{i}") for i in range(2)]
            self.api = api.result()
            for worker in workers:
                worker.result()
            cron.result()

    def start_cron(self) -> None:
        log_path = self.workdir / "cron.log"
        with log_path.open("ab") as log_file:
            self.cron = subprocess.Popen(
                [sys.executable, "-m", "imgflow.cli", "cron"],
                cwd=self.workdir,
                env=process_env(self.env),
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while "Starting worker for" not in log_path.read_text(errors="replace"):
            if self.cron.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"imgflow cron did not start:\n{log_path.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        for server in [*self.workers, *([self.api] if self.api else [])]:
            if server.alive():
                stop_server(server)
        if self.cron is not None and self.cron.poll() is None:
            self.cron.send_signal(signal.SIGTERM)
            try:
                self.cron.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.cron.kill()
                self.cron.wait()

    def logs(self) -> str:
        parts = [
            f"--- {path.parent.name}/{path.name}\n{path.read_text(errors='replace')}"
            for path in sorted(self.workdir.rglob("*.log"))
        ]
        return "\n".join(parts)

    def terminate_database_sessions(self) -> int:
        """pg_terminate_backend on every session of this test's database."""
        import asyncpg

        async def run() -> int:
            admin = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
            try:
                rows = await admin.fetch(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = $1 AND pid <> pg_backend_pid()",
                    self.database,
                )
                return len(rows)
            finally:
                await admin.close()

        return asyncio.run(run())

    def queue_counts(self) -> dict[str, tuple[int, int]]:
        """(ready, unacked) of every queue of this cluster's namespace."""
        namespace = self.env["IMGFLOW_NAMESPACE"]
        out = rabbitmqctl(
            "list_queues",
            "-p",
            self.services.vhost,
            "--quiet",
            "--no-table-headers",
            "name",
            "messages_ready",
            "messages_unacknowledged",
        )
        counts = {}
        for line in out.splitlines():
            name, ready, unacked = line.split()
            if name.startswith(namespace + "."):
                counts[name] = (int(ready), int(unacked))
        return counts

    def result_objects(self) -> list[str]:
        s3 = self.services.s3()
        keys: list[str] = []
        paginator = s3.get_paginator("list_objects_v2")  # type: ignore[attr-defined]
        for page in paginator.paginate(
            Bucket=self.services.bucket, Prefix=f"{self.prefix}/results/"
        ):
            keys += [item["Key"] for item in page.get("Contents", [])]
        return keys


@contextmanager
def cluster(services: FaultServices, workdir: Path, **overrides: str) -> Iterator[Cluster]:
    """A running cluster; `overrides` are extra IMGFLOW_* settings for all its processes."""
    namespace = f"fault-{uuid.uuid4().hex[:8]}"
    redis = Redis(free_port(), workdir)
    redis.start()
    try:
        with postgres_database() as database_url:
            env = {
                **FAULT_SETTINGS,
                "IMGFLOW_DATABASE_URL": database_url,
                "IMGFLOW_BROKER_URL": services.amqp_url,
                "IMGFLOW_REDIS_URL": redis.url,
                "IMGFLOW_STORAGE_URL": f"s3://{services.bucket}/{namespace}",
                "IMGFLOW_S3_ENDPOINT_URL": services.proxy.url,
                "IMGFLOW_NAMESPACE": namespace,
                "IMGFLOW_JWT_SECRET": SECRET,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": "us-east-1",
                **overrides,
            }
            migrate(env, workdir)
            running = Cluster(env, services, redis, database_url.rsplit("/", 1)[1], workdir)
            try:
                running.start()
                yield running
            finally:
                running.stop()
    finally:
        redis.stop()
