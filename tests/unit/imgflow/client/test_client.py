"""The command-line client's parts that need no server: operation flags (through the
real `imgflow` parser), the token store, output file names, and its import weight."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from imgflow.cli import build_parser
from imgflow.client.credentials import CredentialsError, CredentialStore, config_dir
from imgflow.client.outputs import Output, reserve
from imgflow.client.service import ImageInfo


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"not looked at by the parser")
    return path


def pipeline(photo: Path, *flags: str) -> list[dict[str, Any]]:
    args = build_parser().parse_args(["submit", str(photo), *flags])
    return list(args.operations)


def test_flags_become_operations_in_command_line_order(photo: Path) -> None:
    assert pipeline(
        photo,
        *("--convert", "WebP:80", "--resize", "800", "--rotate", "-90", "--grayscale"),
        *("--resize", "x600", "--force-resize", "640x480", "--crop", "10,20,300,200"),
        *("--flip", "Horizontal", "--blur", "1.5", "--sharpen", "2", "--sharpen", "1.5,120,4"),
        *("--convert", "jpg", "--resize", "1024X768", "--convert", "auto::150000"),
    ) == [
        {"convert": {"format": "WEBP", "quality": 80}},
        {"resize": {"width": 800, "height": None}},
        {"rotate": {"degrees": -90}},
        {"grayscale": True},
        {"resize": {"width": None, "height": 600}},
        {"forceResize": {"width": 640, "height": 480}},
        {"crop": {"left": 10, "top": 20, "width": 300, "height": 200}},
        {"flip": {"direction": "HORIZONTAL"}},
        {"blur": {"radius": 1.5}},
        {"sharpen": {"radius": 2.0}},
        {"sharpen": {"radius": 1.5, "percent": 120, "threshold": 4}},
        {"convert": {"format": "JPEG", "quality": None}},
        {"resize": {"width": 1024, "height": 768}},
        {"convert": {"format": "AUTO", "quality": None, "maxBytes": 150000}},
    ]


def test_order_decides_the_pipeline(photo: Path) -> None:
    first = pipeline(photo, "--rotate", "90", "--resize", "800")
    second = pipeline(photo, "--resize", "800", "--rotate", "90")
    assert first == second[::-1] != second


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--resize", "800x"], "argument --resize: expected WxH, W or xH"),
        (["--resize", "0x600"], "argument --resize: a side must be at least 1"),
        (["--resize", "big"], "argument --resize: expected WxH"),
        (["--force-resize", "800"], "argument --force-resize: expected WxH (both sides"),
        (["--convert", "heic"], "argument --convert: unknown format 'heic': choose from jpeg"),
        (["--convert", "webp:0"], "argument --convert: QUALITY must be between 1 and 100"),
        (["--convert", "webp:high"], "argument --convert: QUALITY must be a whole number"),
        (["--convert", "webp:80:99"], "argument --convert: MAXBYTES must be at least 100"),
        (["--convert", "webp::lots"], "argument --convert: MAXBYTES must be a whole number"),
        (["--crop", "1,2,3"], "argument --crop: expected L,T,W,H"),
        (["--crop=-1,0,10,10"], "argument --crop: L and T must not be negative"),
        (["--crop", "0,0,0,10"], "argument --crop: W must be at least 1"),
        (["--flip", "diagonal"], "argument --flip: expected horizontal or vertical"),
        (["--rotate", "90.5"], "argument --rotate: DEG must be a whole number"),
        (["--blur", "0"], "argument --blur: radius must be more than 0"),
        (["--blur", "nan"], "argument --blur: radius must be more than 0"),
        (["--sharpen", "2,150,3,9"], "argument --sharpen: expected R[,PERCENT,THRESHOLD]"),
        (["--url", "ftp://example.com"], "argument --url: expected http://HOST[:PORT]"),
        (["--url", "http://host:port"], "argument --url: "),
        ([], "give at least one operation"),
    ],
)
def test_bad_values_are_usage_errors(
    photo: Path, flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    def submit() -> None:
        args = build_parser().parse_args(["submit", str(photo), *flags])
        args.run(args)  # the missing-pipeline check runs before anything is sent

    with pytest.raises(SystemExit) as exit_info:
        submit()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err


def test_a_missing_input_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["submit", str(tmp_path / "nope.jpg"), "--resize", "80"])
    assert exit_info.value.code == 2
    assert "nope.jpg: no such file" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("given", "stored_as"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        ("http://127.0.0.1:8000/graphql", "http://127.0.0.1:8000"),
        ("https://img.example.com/api/graphql/", "https://img.example.com/api"),
    ],
)
def test_urls_are_normalised_so_tokens_are_found(photo: Path, given: str, stored_as: str) -> None:
    args = build_parser().parse_args(["submit", str(photo), "--resize", "8", "--url", given])
    assert args.url == stored_as


@pytest.mark.parametrize("command", ["submit", "jobs", "login", "logout"])
def test_help_shows_defaults(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    out = capsys.readouterr().out
    assert "(default: http://127.0.0.1:8000)" in " ".join(out.split())
    assert "(default: None)" not in out


def test_tokens_are_kept_per_url_readable_by_the_user_alone(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "config" / "imgflow" / "credentials.json")
    store.save("http://a:8000", "token-a")
    store.save("http://b:8000", "token-b")

    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    assert json.loads(store.path.read_text()) == {
        "http://a:8000": "token-a",
        "http://b:8000": "token-b",
    }
    assert store.forget("http://a:8000") is True
    assert store.forget("http://a:8000") is False
    assert store.token("http://a:8000") is None
    assert store.token("http://b:8000") == "token-b"
    assert [p.name for p in store.path.parent.iterdir()] == ["credentials.json"]


def test_a_damaged_credentials_file_is_reported_not_overwritten(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "credentials.json")
    store.path.write_text("{not json")
    with pytest.raises(CredentialsError, match="not a credentials file"):
        store.save("http://a:8000", "token")
    assert store.path.read_text() == "{not json"


def test_config_dir_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_dir() == tmp_path / "xdg" / "imgflow"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/path")  # invalid per the spec: ignored
    assert config_dir() == tmp_path / "home" / ".config" / "imgflow"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert config_dir() == tmp_path / "home" / ".config" / "imgflow"


def test_output_names_never_take_an_existing_file(tmp_path: Path) -> None:
    job_id = "6f1c2a9b-5d0e-4c43-9a57-0c0d5e1b6a11"
    output = Output(ImageInfo("WEBP", 8, 6, 10, 1, "http://x/r.webp"))
    (tmp_path / "photo.6f1c2a9b.webp").write_bytes(b"mine")

    path, file = reserve(tmp_path, Path("in/photo.jpg"), job_id, output)
    file.close()
    assert path == tmp_path / "photo.6f1c2a9b-2.webp"
    assert (tmp_path / "photo.6f1c2a9b.webp").read_bytes() == b"mine"

    labelled = Output(ImageInfo("JPEG", 8, 6, 10, 1, "http://x/t.jpg"), label="thumb")
    path, file = reserve(tmp_path, Path("photo.jpg"), job_id, labelled)
    file.close()
    assert path.name == "photo.6f1c2a9b.thumb.jpg"


def test_the_client_does_not_load_the_server() -> None:
    """`imgflow submit` must start fast: no database, GraphQL server or imaging code."""
    code = (
        "import sys, imgflow.client.commands; print(sorted({m.split('.')[0] for m in sys.modules}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(done.stdout.replace("'", '"')))
    heavy = {"sqlalchemy", "sqlmodel", "strawberry", "PIL", "pydantic", "starlette", "aio_pika"}
    assert not loaded & heavy, loaded & heavy
