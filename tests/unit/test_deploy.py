"""docker-compose.yml and the Dockerfile cannot run here (no Docker engine), so they
are checked for consistency with the code: real commands, real settings, real paths."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from imgflow.cli import build_parser
from imgflow.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
IMGFLOW_SERVICES = [
    name for name, spec in SERVICES.items() if spec.get("image") == "imgflow:latest"
]


def test_every_process_kind_is_deployed() -> None:
    commands = {SERVICES[name]["command"][1] for name in IMGFLOW_SERVICES}
    assert commands == {"migrate", "api", "worker", "cron"}


@pytest.mark.parametrize("name", IMGFLOW_SERVICES)
def test_service_command_is_a_real_cli_invocation(name: str) -> None:
    command = SERVICES[name]["command"]
    assert command[0] == "imgflow"
    args = build_parser().parse_args(command[1:])
    assert callable(args.run)


@pytest.mark.parametrize("name", IMGFLOW_SERVICES)
def test_every_imgflow_variable_is_a_real_setting(name: str) -> None:
    fields = {f"IMGFLOW_{field.upper()}" for field in Settings.model_fields}
    variables = {key for key in SERVICES[name]["environment"] if key.startswith("IMGFLOW_")}
    assert variables, name
    assert variables <= fields, variables - fields


@pytest.mark.parametrize("name", IMGFLOW_SERVICES)
def test_services_wait_for_migrations_and_the_bucket(name: str) -> None:
    depends = SERVICES[name]["depends_on"]
    if name == "migrate":
        assert depends["postgres"]["condition"] == "service_healthy"
        return
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert depends["bucket"]["condition"] == "service_completed_successfully"


def test_bucket_created_is_the_bucket_used() -> None:
    storage_url = SERVICES["api"]["environment"]["IMGFLOW_STORAGE_URL"]
    bucket = re.match(r"s3://([^/]+)", storage_url)
    assert bucket is not None
    assert f"local/{bucket.group(1)}" in " ".join(SERVICES["bucket"]["command"])


def test_dockerfile_copies_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\w+) ", dockerfile, flags=re.MULTILINE))
    assert copied == {"imgflow", "gql", "resolvers", "workers", "migrations"}
    assert all((ROOT / package / "__init__.py").exists() for package in copied)


@pytest.mark.parametrize("name", IMGFLOW_SERVICES)
def test_docker_waits_out_the_shutdown_grace(name: str) -> None:
    """`docker compose stop` must not SIGKILL a process still in its grace period."""
    period = str(SERVICES[name]["stop_grace_period"])
    assert period.endswith("s")
    assert int(period[:-1]) >= Settings().shutdown_grace_seconds + 5
