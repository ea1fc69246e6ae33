"""moto in server mode (S3, SNS) as a real HTTP endpoint on a free local port.

`start_moto()` for scripts; the session-scoped `moto_server` fixture for tests (import
it into a conftest). The fixture also points boto's credential chain at dummy keys for
the test session and restores the caller's environment afterwards. Importing this
module starts nothing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

MOTO_REGION = "us-east-1"
# moto accepts any keys; fixed dummy ones keep a developer's real AWS credentials, profile
# or session token from being picked up (and sent) by the tests.
DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": MOTO_REGION,
    "AWS_DEFAULT_REGION": MOTO_REGION,
}
# Variables that would override or confuse the dummy keys in boto's chain.
CLEARED_AWS_ENV = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")


@dataclass
class MotoServer:
    endpoint_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    _stopped: bool = field(default=False, repr=False)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def moto_server_command() -> Path | None:
    """`moto_server` beside the running interpreter (the venv's), else on PATH."""
    beside = Path(sys.executable).parent / "moto_server"
    if beside.exists():
        return beside
    found = shutil.which("moto_server")
    return Path(found) if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto(
    timeout: float = 15.0, log_dir: Path | None = None, port: int | None = None
) -> MotoServer:
    """Start `moto_server` on `port` (default: a free one) and wait until it answers (~2 s)."""
    command = moto_server_command()
    if command is None:
        raise FileNotFoundError("moto_server not found: install moto[server]")
    port = port or _free_port()
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="moto-"))
    log_path = log_dir / "moto.log"
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            [str(command), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = MotoServer(f"http://127.0.0.1:{port}", process, log_path)
    try:
        _wait_ready(server, timeout)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_ready(server: MotoServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"moto_server exited early:\n{server.log()}")
        try:
            # moto's own dashboard endpoint: answers once the server is serving.
            httpx.get(f"{server.endpoint_url}/moto-api/", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"moto_server not ready in {timeout}s:\n{server.log()}")


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """A moto server for the whole session, with dummy AWS credentials in the environment.

    Skips when moto is not installed, except under CI=true where that is a failure.
    """
    if moto_server_command() is None:
        message = "moto_server not found (pip install 'moto[server]'): S3 tests need it"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with pytest.MonkeyPatch.context() as patch:
        for name in CLEARED_AWS_ENV:
            patch.delenv(name, raising=False)
        for name, value in DUMMY_AWS_ENV.items():
            patch.setenv(name, value)
        server = start_moto(log_dir=tmp_path_factory.mktemp("moto"))
        try:
            yield server
        finally:
            server.stop()
