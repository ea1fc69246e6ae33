"""`imgflow cron --check`, the cron's liveness probe (deploy/kubernetes): it answers 0
only while a real `imgflow cron` runs its arq loop against the same Redis and namespace."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.backends import remember_namespace
from tests.conftest import migrate, process_env
from tests.e2e.test_notifications import cron_process


def check(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "imgflow.cli", "cron", "--check"],
        env=process_env(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("backend", ["services"], indirect=True)
def test_the_check_follows_the_cron(backend: dict[str, str], tmp_path: Path) -> None:
    env = {**backend, "IMGFLOW_NAMESPACE": f"cron-health-{uuid.uuid4().hex[:8]}"}
    remember_namespace(env)  # its queues go at the end of the run
    migrate(env, tmp_path)
    assert check(env, tmp_path).returncode == 1  # no cron yet
    with cron_process(tmp_path / "cron", env):
        deadline = time.monotonic() + 30
        while (answer := check(env, tmp_path)).returncode != 0:
            assert time.monotonic() < deadline, answer.stderr
            time.sleep(0.5)
        other = {**env, "IMGFLOW_NAMESPACE": f"other-{uuid.uuid4().hex[:8]}"}
        assert check(other, tmp_path).returncode == 1  # another deployment's cron
    # Stopped (SIGTERM): arq removes its health key on the way out.
    answer = check(env, tmp_path)
    assert answer.returncode == 1
    assert "Traceback" not in answer.stderr


@pytest.mark.parametrize("backend", ["services"], indirect=True)
def test_the_check_fails_cleanly_without_redis(backend: dict[str, str], tmp_path: Path) -> None:
    env = {**backend, "IMGFLOW_REDIS_URL": "redis://127.0.0.1:1/0"}  # nothing listens there
    answer = check(env, tmp_path)
    assert answer.returncode == 1
    assert "Traceback" not in answer.stderr
