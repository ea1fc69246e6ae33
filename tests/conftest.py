"""Shared fixtures: a real `imgflow serve` process on a free port, and real clients.

The `server` fixture is parametrised by backend mix; every API and end-to-end test
runs once per mix. Today: `embedded` (SQLite, local files, in-process queue/events).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.client import Client

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("embedded", "services")
TEST_DEFAULTS = {
    "IMGFLOW_REGISTRATIONS_PER_HOUR": "1000000",
    "IMGFLOW_PASSWORD_PROFILE": "owasp-minimum",
}
"""Every test registers its users from 127.0.0.1: the per-address registration limit
would otherwise refuse the suite itself (tests of that limit set it). The suite registers
about a thousand users: on the default argon2 profile that alone was 0.2 s of CPU each
(tests/api/test_accounts.py covers the default profile)."""


SUMMARY = "summary line"
"""A `user_properties` key: such lines (the fault suite's) are printed at the end of the
run, from whichever test process ran their test."""
SUMMARY_LINES: list[str] = []
# The first line of a record in an imgflow log (see imgflow/logs.py); a traceback's lines are not.
LOG_RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    if config.getoption("dist") not in ("load", "loadscope"):
        return None
    from tests.parallel import MixAwareScheduling

    return MixAwareScheduling(config, log)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    SUMMARY_LINES.extend(str(value) for key, value in report.user_properties if key == SUMMARY)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SUMMARY_LINES:
        terminalreporter.section("fault suite")
        for line in SUMMARY_LINES:
            terminalreporter.write_line(line)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    workdir: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def tracebacks(self) -> str:
        """Each traceback in the log with the record that led to it: a failure report
        shows these, not a long log's tail, which may hold none of them."""
        lines = self.log().splitlines()
        excerpts = []
        for start, line in enumerate(lines):
            if "Traceback" not in line:
                continue
            end = start + 1
            while end < len(lines) and not LOG_RECORD.match(lines[end]):
                end += 1
            excerpts.append("\n".join(lines[max(start - 2, 0) : end]))
        return "\n...\n".join(excerpts)


def start_server(workdir: Path, env_overrides: dict[str, str], *args: str) -> Server:
    """`imgflow serve` in `workdir` with only the given IMGFLOW_* settings."""
    return start_imgflow(workdir, env_overrides, "serve", *args)


def start_imgflow(
    workdir: Path,
    env_overrides: dict[str, str],
    command: str,
    *args: str,
    program: tuple[str, ...] = (sys.executable, "-m", "imgflow.cli"),
    healthy_within: float = 30.0,
) -> Server:
    """`imgflow <command> --port <free>` in `workdir`, its output in `workdir/server.log`;
    returns once /healthz answers. `program` runs another installation's imgflow, or a
    script standing for `imgflow serve` (then `command` is "")."""
    workdir.mkdir(parents=True, exist_ok=True)
    from tests.backends import remember_namespace

    remember_namespace(env_overrides)
    port = free_port()
    env = process_env(env_overrides)
    log_path = workdir / "server.log"
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            [*program, *filter(None, [command]), "--port", str(port), *args],
            cwd=workdir,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process, workdir, log_path)
    try:
        wait_healthy(server, healthy_within)
    except BaseException:
        # A server stuck in start-up (a backend not answering) would outlive the run.
        server.process.kill()
        server.process.wait()
        raise
    return server


def process_env(overrides: dict[str, str]) -> dict[str, str]:
    """The environment of an imgflow process: this one's, but no IMGFLOW_* setting except
    the given ones (a developer's own settings must not leak into a test)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("IMGFLOW_")}
    return {**base, **TEST_DEFAULTS, **overrides}


def migrate(env_overrides: dict[str, str], workdir: Path) -> None:
    """`imgflow migrate` with the given settings, before processes that do not migrate."""
    workdir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "imgflow.cli", "migrate"],
        env=process_env(env_overrides),
        cwd=workdir,
        check=True,
        capture_output=True,
    )


def wait_healthy(server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"server exited early:\n{server.log()}")
        try:
            if httpx.get(f"{server.base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not healthy in {timeout}s:\n{server.log()}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """IMGFLOW_* settings of one backend mix (see tests/backends.py)."""
    if request.param == "embedded":
        yield {}
        return
    from tests.backends import services_env

    with services_env() as env:
        yield env


@pytest.fixture(scope="session")
def server(backend: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One `imgflow serve` per backend mix, shared by the API and end-to-end tests."""
    workdir = tmp_path_factory.mktemp("serve")
    concurrency = "convert=2,rotate=2,resize=2,force_resize=2"
    server = start_server(workdir, backend, "--concurrency", concurrency)
    yield server
    stop_server(server)
    assert "Traceback" not in server.log(), server.tracebacks()


async def new_user(base_url: str) -> Client:
    client = Client(base_url)
    data = await client.execute(
        "mutation($e: String!, $p: String!) { register(email: $e, password: $p) { token } }",
        {"e": f"user-{uuid.uuid4().hex[:12]}@example.com", "p": "correct horse battery"},
    )
    client.token = data["register"]["token"]
    return client


@pytest.fixture
async def client(server: Server) -> AsyncIterator[Client]:
    user = await new_user(server.base_url)
    yield user
    await user.close()


@pytest.fixture
async def other_client(server: Server) -> AsyncIterator[Client]:
    user = await new_user(server.base_url)
    yield user
    await user.close()
