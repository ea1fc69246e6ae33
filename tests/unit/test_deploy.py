"""docker-compose.yml and the Dockerfile cannot run here (no Docker engine), so they
are checked for consistency with the code: real commands, real settings, real paths,
real health routes, and links signed for the address the host publishes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from starlette.routing import Route

from imgflow.app import Roles, create_app
from imgflow.cli import build_parser, load_settings, parse_queues
from imgflow.domain import QueueName
from imgflow.services import storage_for
from imgflow.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, Any] = COMPOSE["services"]
IMGFLOW_SERVICES = [
    name for name, spec in SERVICES.items() if spec.get("image") == "imgflow:latest"
]
WORKERS = [name for name in IMGFLOW_SERVICES if SERVICES[name]["command"][1] == "worker"]
# `${NAME:?message}` (required) and `${NAME:-default}`, as compose interpolates them.
VARIABLE = re.compile(r"\$\{(\w+)(?::([?-])([^}]*))?\}")


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
    assert copied == {"imgflow", "gql", "resolvers", "workers", "loadtest", "migrations"}
    assert all((ROOT / package / "__init__.py").exists() for package in copied)


@pytest.mark.parametrize("name", IMGFLOW_SERVICES)
def test_docker_waits_out_the_shutdown_grace(name: str) -> None:
    """`docker compose stop` must not SIGKILL a process still in its grace period."""
    period = str(SERVICES[name]["stop_grace_period"])
    assert period.endswith("s")
    assert int(period[:-1]) >= Settings().shutdown_grace_seconds + 5


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_one_worker_service_per_queue_group_covers_every_queue_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no developer .env
    groups = [parse_queues(option(SERVICES[name]["command"], "--queues")) for name in WORKERS]
    assert len(WORKERS) >= 3
    assert sorted(q for group in groups for q in group) == sorted(QueueName)
    for name, group in zip(WORKERS, groups, strict=True):
        # What the process will consume, as the CLI reads its command and environment.
        monkeypatch.setenv(
            "IMGFLOW_CONCURRENCY", SERVICES[name]["environment"]["IMGFLOW_CONCURRENCY"]
        )
        settings = load_settings(build_parser().parse_args(SERVICES[name]["command"][1:]))
        assert {q for q, n in settings.concurrency.items() if n > 0} == group, name
        # Scaling one service scales its queues only: `--scale worker-convert=3`.
        assert name.removeprefix("worker-") in {q.value.lower() for q in group}


def health_routes() -> set[str]:
    settings = Settings(jwt_secret="x" * 48)
    app = create_app(settings, Roles())
    return {route.path for route in app.routes if isinstance(route, Route)}


@pytest.mark.parametrize("name", ["api", *WORKERS])
def test_long_running_services_check_their_own_health_route(name: str) -> None:
    spec = SERVICES[name]
    probe = " ".join(spec["healthcheck"]["test"])
    url = re.search(r"http://127\.0\.0\.1:(\d+)(/\w+)", probe)
    assert url is not None, probe
    assert url.group(1) == option(spec["command"], "--port")
    assert url.group(2) in health_routes()
    # The probe runs in the imgflow image, which has Python but no curl.
    assert spec["healthcheck"]["test"][:2] == ["CMD", "python"]


def test_the_cron_checks_its_own_scheduler() -> None:
    """`imgflow cron` serves no HTTP: its health check is the CLI's own check."""
    test = SERVICES["cron"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    assert test[1] == "imgflow"
    assert build_parser().parse_args(test[2:]).check


def test_rabbitmq_keeps_its_queues_across_restarts() -> None:
    rabbitmq = SERVICES["rabbitmq"]
    assert any(v.endswith(":/var/lib/rabbitmq") for v in rabbitmq["volumes"])
    assert rabbitmq["hostname"]  # its data directory is named after the node's host name
    assert set(COMPOSE["volumes"]) >= {"postgres", "rabbitmq", "minio"}


def generated_env(tmp_path: Path) -> dict[str, str]:
    """What the README's `scripts/compose-env` writes, parsed."""
    target = tmp_path / ".env"
    subprocess.run([sys.executable, ROOT / "scripts" / "compose-env", target], check=True)
    assert target.stat().st_mode & 0o077 == 0  # passwords: owner only
    pairs = (line.split("=", 1) for line in target.read_text().splitlines() if line)
    return dict(pairs)


def interpolate(value: str, env: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if name in env:
            return env[name]
        assert kind == "-", f"${{{name}}} is required and not in .env"
        return rest

    return VARIABLE.sub(one, value).replace("$$", "$")


def test_no_password_is_written_in_the_compose_file(tmp_path: Path) -> None:
    env = generated_env(tmp_path)
    required = {m.group(1) for m in VARIABLE.finditer(COMPOSE_TEXT) if m.group(2) == "?"}
    assert required == set(env)  # the generator writes exactly what compose demands
    assert len(set(env.values())) == len(env)
    secrets_by_key = {
        "postgres": ["POSTGRES_PASSWORD"],
        "rabbitmq": ["RABBITMQ_DEFAULT_PASS"],
        "minio": ["MINIO_ROOT_PASSWORD"],
        **{name: ["AWS_SECRET_ACCESS_KEY", "IMGFLOW_JWT_SECRET"] for name in IMGFLOW_SERVICES},
    }
    for service, keys in secrets_by_key.items():
        for key in keys:
            assert VARIABLE.fullmatch(SERVICES[service]["environment"][key]), (service, key)
    for name in IMGFLOW_SERVICES:
        for key in ("IMGFLOW_DATABASE_URL", "IMGFLOW_BROKER_URL"):
            credentials = re.match(r"\w[\w+]*://\w+:(.*)@", SERVICES[name]["environment"][key])
            assert credentials is not None, (name, key)
            assert VARIABLE.fullmatch(credentials.group(1)), (name, key)


def test_only_the_api_and_the_s3_api_are_published_and_only_on_the_host() -> None:
    published = {name: spec["ports"] for name, spec in SERVICES.items() if "ports" in spec}
    assert published == {"api": ["127.0.0.1:8000:8000"], "minio": ["127.0.0.1:9000:9000"]}


async def test_links_are_signed_for_the_address_the_host_publishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no developer .env
    env = generated_env(tmp_path)
    for key, value in SERVICES["api"]["environment"].items():
        monkeypatch.setenv(key, interpolate(str(value), env))
    settings = Settings()
    storage = storage_for(settings)
    await storage.connect()  # signing is local: no request reaches minio
    try:
        link = urlsplit(await storage.url("results/job.png", "http://api.invalid"))
        form = urlsplit((await storage.upload_form("uploads/job", 10, 60, "")).url)
    finally:
        await storage.close()

    (minio_port,) = SERVICES["minio"]["ports"]
    host, published, _inside = minio_port.split(":")
    assert host == "127.0.0.1"
    for url in (link, form):
        assert url.hostname in ("localhost", "127.0.0.1"), url
        assert str(url.port) == published, url
    # The processes themselves still talk to minio inside the network.
    assert settings.s3_endpoint_url == "http://minio:9000"
    assert urlsplit(settings.public_url or "").port == int(
        SERVICES["api"]["ports"][0].split(":")[1]
    )
