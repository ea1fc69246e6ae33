"""What IMGFLOW_ENVIRONMENT decides, and which signing secrets production refuses."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import yaml

from imgflow.backends.storage.downloads import download_for
from imgflow.settings import Settings, ensure_local_secret

GOOD = secrets.token_urlsafe(48)


def test_development_is_the_default_and_open() -> None:
    settings = Settings()
    assert settings.environment == "development"
    assert settings.graphiql_enabled
    assert settings.introspection_enabled
    assert settings.allowed_origins == ("*",)


def test_production_closes_what_is_not_asked_for() -> None:
    settings = Settings(environment="production")
    assert not settings.graphiql_enabled
    assert not settings.introspection_enabled
    assert settings.allowed_origins == ()


def test_own_settings_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMGFLOW_ENVIRONMENT", "production")
    monkeypatch.setenv("IMGFLOW_GRAPHIQL", "true")
    monkeypatch.setenv("IMGFLOW_INTROSPECTION", "true")
    monkeypatch.setenv("IMGFLOW_CORS_ORIGINS", "https://app.example, https://admin.example")
    settings = Settings()
    assert settings.graphiql_enabled
    assert settings.introspection_enabled
    assert settings.allowed_origins == ("https://app.example", "https://admin.example")
    assert not Settings(environment="development", graphiql=False).graphiql_enabled


def test_unknown_environment_is_refused() -> None:
    with pytest.raises(ValueError, match="environment"):
        Settings(environment="prod")  # type: ignore[arg-type]


def test_request_limit_follows_the_upload_limit_unless_set() -> None:
    assert Settings(max_upload_bytes=1000).request_byte_limit == 1000 + 1024 * 1024
    assert Settings(max_upload_bytes=1000, max_request_bytes=5000).request_byte_limit == 5000


@pytest.mark.parametrize(
    "secret",
    [
        None,
        "",
        "change-me",
        "secret",
        "change-me-change-me-change-me-change-me",
        # A random tail: the id is fixed so that parallel test processes collect alike.
        pytest.param("CHANGEME" + secrets.token_urlsafe(32), id="CHANGEME-random"),
        "my-super-secret-jwt-key-for-production-2024",
        "test-secret-" + "x" * 40,  # tests/backends.py: public, hence well known
        "please-replace-me-with-a-real-value-before-deploying",
        "abcdefghabcdefghabcdefghabcdefghabcdefgh",
        "x" * 64,
    ],
)
def test_production_refuses_missing_short_and_placeholder_secrets(secret: str | None) -> None:
    with pytest.raises(ValueError, match="IMGFLOW_JWT_SECRET"):
        Settings(environment="production", jwt_secret=secret).secret()


def test_production_accepts_random_secrets() -> None:
    for secret in (GOOD, secrets.token_hex(32), secrets.token_urlsafe(32)):
        assert Settings(environment="production", jwt_secret=secret).secret() == secret


def test_development_keeps_accepting_long_test_secrets() -> None:
    secret = "test-secret-" + "x" * 40
    assert Settings(jwt_secret=secret).secret() == secret


def test_serve_generates_no_secret_in_production(tmp_path: Path) -> None:
    settings = ensure_local_secret(Settings(environment="production", data_dir=tmp_path))
    assert settings.jwt_secret is None
    assert not (tmp_path / "jwt-secret").exists()
    with pytest.raises(ValueError, match="does not generate"):
        settings.secret()


@pytest.mark.parametrize(
    ("key", "content_type", "disposition"),
    [
        ("results/6f1c.png", "image/png", 'attachment; filename="6f1c.png"'),
        ("results/6f1c.jpg", "image/jpeg", 'attachment; filename="6f1c.jpg"'),
        ("results/6f1c.webp", "image/webp", 'attachment; filename="6f1c.webp"'),
        ("sources/6f1c", "application/octet-stream", 'attachment; filename="6f1c"'),
        ('results/a"b;c.html', "application/octet-stream", 'attachment; filename="a_b_c.html"'),
    ],
)
def test_downloads_carry_their_type_and_come_as_attachments(
    key: str, content_type: str, disposition: str
) -> None:
    download = download_for(key)
    assert (download.content_type, download.disposition) == (content_type, disposition)


def test_compose_deploys_in_production() -> None:
    compose = yaml.safe_load(
        (Path(__file__).resolve().parents[3] / "docker-compose.yml").read_text()
    )
    imgflow = [
        spec for spec in compose["services"].values() if spec.get("image") == "imgflow:latest"
    ]
    assert imgflow
    for spec in imgflow:
        assert spec["environment"]["IMGFLOW_ENVIRONMENT"] == "production"
