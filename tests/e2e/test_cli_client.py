"""`imgflow submit / jobs / login / logout`, the real console script in a subprocess,
against a real `imgflow serve` on each backend mix, with its own HOME and
XDG_CONFIG_HOME: what a user types, what they see, what lands on their disk."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import imagehash
import pytest
from PIL import Image

from loadtest.images import synthetic_photo
from tests.conftest import Server, free_port, process_env, stop_server, wait_healthy
from tests.imaging import quadrants, similarity, to_bytes

SCRIPT = Path(sys.executable).with_name("imgflow")
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "imgflow.cli"]
PASSWORD = "correct horse battery"
SOURCE_SIZE = (640, 426)  # halves exactly: the expected size needs no rounding rule


@dataclass
class Cli:
    """`imgflow` as one user on one machine: a home, a config directory, a shell env."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)
    email: str = ""

    @property
    def config(self) -> Path:
        return self.root / "config" / "imgflow"

    def environment(self) -> dict[str, str]:
        env = process_env(self.env)  # no IMGFLOW_* leaking in from the developer's shell
        return env | {"HOME": str(self.root / "home"), "XDG_CONFIG_HOME": str(self.root / "config")}

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*COMMAND, *args],
            input=stdin or "",
            capture_output=True,
            text=True,
            cwd=self.root,
            env=self.environment(),
            timeout=120,
            check=False,
        )
        assert "Traceback" not in done.stderr, done.stderr
        return done


def new_cli(root: Path, server: Server) -> Cli:
    (root / "home").mkdir(parents=True)
    return Cli(root, {"IMGFLOW_URL": server.base_url})


@pytest.fixture
def cli(server: Server, tmp_path: Path) -> Cli:
    """A user registered with `imgflow login --register`."""
    user = new_cli(tmp_path / "user", server)
    email = f"cli-{uuid.uuid4().hex[:12]}@example.com"
    done = user("login", "--register", "--email", email, "--password-stdin", stdin=PASSWORD)
    assert done.returncode == 0, done.stderr
    assert f"as {email}" in done.stderr
    user.email = email
    return user


def photo(directory: Path, name: str = "photo.jpg") -> Path:
    path = directory / name
    synthetic_photo(SOURCE_SIZE, seed=7).save(path, "JPEG", quality=92)
    return path


def truncated_jpeg(directory: Path) -> Path:
    """Headers intact (accepted at submission), scan data cut: the worker fails it."""
    data = to_bytes(quadrants(400, 300), "JPEG", quality=95)
    path = directory / "broken.jpg"
    path.write_bytes(data[: len(data) // 2])
    return path


def statuses(stderr: str, job_id: str) -> list[str]:
    """The status of each progress line about the job, in order."""
    prefix = job_id[:8] + " "
    return [
        line[len(prefix) :].split()[0] for line in stderr.splitlines() if line.startswith(prefix)
    ]


def submitted_id(stderr: str) -> str:
    line = next(line for line in stderr.splitlines() if line.startswith("submitted "))
    return line.rsplit(" ", 1)[1]


def test_login_stores_the_token_for_the_user_alone(cli: Cli, server: Server) -> None:
    credentials = cli.config / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE(cli.config.stat().st_mode) == 0o700
    tokens = json.loads(credentials.read_text())
    assert list(tokens) == [server.base_url]


def test_submit_follows_the_job_and_saves_a_matching_webp(cli: Cli) -> None:
    source = photo(cli.root)

    done = cli("submit", source.name, "--resize", "320", "--convert", "webp:90")

    assert done.returncode == 0, done.stderr
    job_id = submitted_id(done.stderr)
    seen = statuses(done.stderr, job_id)
    assert seen in (["QUEUED", "PROCESSING", "SUCCEEDED"], ["QUEUED", "SUCCEEDED"]), seen
    assert f"{job_id[:8]} QUEUED (queue CONVERT)" in done.stderr
    assert f"{job_id[:8]} SUCCEEDED 320x213 WEBP " in done.stderr

    saved = cli.root / f"photo.{job_id[:8]}.webp"
    assert done.stdout.splitlines() == [saved.name]  # next to the input, as it was given
    with Image.open(saved) as result:
        assert (result.format, result.size) == ("WEBP", (320, 213))
        with Image.open(source) as original:
            reference = original.convert("RGB").resize((320, 213), Image.Resampling.LANCZOS)
        assert similarity(result, reference) > 0.9


def test_the_registrys_flags_reach_the_service(cli: Cli) -> None:
    """Flags in the default form (values in order, then name=value) and a bare one."""
    source = photo(cli.root)
    flags = ["--fill", "200,100,north", "--adjust", "saturation=0", "--trim", "--convert", "png"]

    done = cli("submit", source.name, *flags, "--quiet")

    assert done.returncode == 0, done.stderr
    with Image.open(cli.root / done.stdout.strip()) as result:
        assert result.size == (200, 100)
        red, green, blue = result.convert("RGB").split()
        assert red.tobytes() == green.tobytes() == blue.tobytes()  # saturation 0: grey
        with Image.open(source) as original:
            width = original.width
            top = original.convert("RGB").crop((0, 0, width, width // 2)).resize((200, 100))
        assert similarity(result.convert("L"), top.convert("L")) > 0.8


def test_a_failing_job_exits_1_with_its_code(cli: Cli) -> None:
    source = truncated_jpeg(cli.root)

    done = cli("submit", source.name, "--rotate", "90", "--json")

    assert done.returncode == 1, done.stderr
    job_id = submitted_id(done.stderr)
    assert statuses(done.stderr, job_id)[-1] == "FAILED"
    assert f"{job_id[:8]} FAILED CORRUPT_IMAGE" in done.stderr
    assert done.stderr.splitlines()[-1].startswith("error: CORRUPT_IMAGE: ")
    final = json.loads(done.stdout)
    assert (final["id"], final["status"], final["files"]) == (job_id, "FAILED", [])
    assert sorted(p.name for p in cli.root.iterdir() if p.is_file()) == ["broken.jpg"]


@pytest.mark.parametrize(
    ("flags", "code"),
    [
        (["--crop", "600,0,100,100"], "INVALID_OPERATION"),  # 600 + 100 > 640
        (["--resize", "100"], "UNSUPPORTED_FORMAT"),
    ],
    ids=["crop-outside", "not-an-image"],
)
def test_a_refused_submission_exits_1_with_its_code(cli: Cli, flags: list[str], code: str) -> None:
    source = photo(cli.root)
    if code == "UNSUPPORTED_FORMAT":
        source.write_text("name says JPEG, content says text\n")

    done = cli("submit", source.name, *flags)

    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(f"error: {code}: "), done.stderr
    assert "submitted" not in done.stderr
    assert done.stdout == ""


def test_jobs_lists_recent_jobs(cli: Cli) -> None:
    good = cli("submit", photo(cli.root).name, "--grayscale", "--quiet", "--json")
    bad = cli("submit", truncated_jpeg(cli.root).name, "--flip", "vertical", "--quiet", "--json")
    good_id, bad_id = json.loads(good.stdout)["id"], json.loads(bad.stdout)["id"]
    assert (good.returncode, bad.returncode) == (0, 1)
    assert good.stderr == ""  # --quiet: no progress

    table = cli("jobs")
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["ID", "STATUS", "QUEUE", "CREATED", "RESULT"]
    assert [row.split()[:3] for row in rows] == [
        [bad_id, "FAILED", "CONVERT"],  # newest first
        [good_id, "SUCCEEDED", "CONVERT"],
    ]
    assert rows[0].endswith("CORRUPT_IMAGE")
    assert " 640x426 JPEG " in rows[1]

    failed = cli("jobs", "--status", "failed", "--json")
    assert [json.loads(line)["id"] for line in failed.stdout.splitlines()] == [bad_id]
    newest = cli("jobs", "--first", "1", "--json")
    assert [json.loads(line)["status"] for line in newest.stdout.splitlines()] == ["FAILED"]


def test_resubmitting_with_a_key_never_overwrites_a_result(cli: Cli) -> None:
    source = photo(cli.root)
    key = f"cli-{uuid.uuid4().hex}"
    args = ["submit", source.name, "--rotate", "90", "--idempotency-key", key]

    first = cli(*args, "--out", "results", "--json")
    again = cli(*args, "--out", "results", "--json")
    no_wait = cli(*args, "--no-wait")

    assert (first.returncode, again.returncode, no_wait.returncode) == (0, 0, 0)
    first_job, again_job = json.loads(first.stdout), json.loads(again.stdout)
    job_id = first_job["id"]
    assert again_job["id"] == no_wait.stdout.strip() == job_id
    short = job_id[:8]
    assert first_job["files"] == [f"results/photo.{short}.jpg"]
    assert again_job["files"] == [f"results/photo.{short}-2.jpg"]
    saved = [cli.root / name for name in (*first_job["files"], *again_job["files"])]
    assert saved[0].read_bytes() == saved[1].read_bytes()
    with Image.open(io.BytesIO(saved[0].read_bytes())) as result:
        assert result.size == SOURCE_SIZE[::-1]


def test_without_a_valid_token_it_says_to_log_in(server: Server, tmp_path: Path) -> None:
    stranger = new_cli(tmp_path / "stranger", server)
    source = photo(stranger.root)

    missing = stranger("submit", source.name, "--resize", "10")
    assert missing.returncode == 3
    assert missing.stderr.startswith(f"error: not signed in to {server.base_url}")
    assert f"imgflow login --url {server.base_url}" in missing.stderr

    for bad in (
        stranger("jobs", "--token", "junk"),
        stranger("submit", source.name, "--blur", "2", "--token", "junk"),
    ):
        assert bad.returncode == 3
        assert bad.stderr.startswith("error: UNAUTHENTICATED: "), bad.stderr
        assert f"run `imgflow login --url {server.base_url}`" in bad.stderr
        assert len(bad.stderr.splitlines()) == 1

    wrong = stranger("login", "--email", "nobody@example.com", "--password-stdin", stdin="x" * 12)
    assert wrong.returncode == 3
    assert "error: INVALID_CREDENTIALS: " in wrong.stderr
    assert not stranger.config.exists()


def test_logout_forgets_the_token(cli: Cli) -> None:
    assert cli("jobs").returncode == 0
    out = cli("logout")
    assert out.returncode == 0
    assert "forgot the token" in out.stderr
    assert json.loads((cli.config / "credentials.json").read_text()) == {}
    assert cli("jobs").returncode == 3


def test_email_and_token_sign_in_for_one_run(cli: Cli, server: Server, tmp_path: Path) -> None:
    token = json.loads((cli.config / "credentials.json").read_text())[server.base_url]
    elsewhere = new_cli(tmp_path / "elsewhere", server)
    source = photo(elsewhere.root)

    by_email = elsewhere(
        "submit", source.name, "--resize", "8", "--no-wait",
        "--email", cli.email, "--password-stdin", stdin=PASSWORD,
    )  # fmt: skip
    assert by_email.returncode == 0, by_email.stderr
    job_id = by_email.stdout.strip()

    elsewhere.env["IMGFLOW_TOKEN"] = token
    listed = elsewhere("jobs", "--json")
    assert listed.returncode == 0, listed.stderr
    newest = json.loads(listed.stdout.splitlines()[0])
    assert newest["id"] == job_id
    assert not elsewhere.config.exists(), "a one-run sign-in stores nothing"


def test_an_unreachable_service_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    user = Cli(tmp_path, {"IMGFLOW_TOKEN": "anything"})
    source = photo(tmp_path)
    closed = f"http://127.0.0.1:{free_port()}"

    for done in (
        user("submit", source.name, "--resize", "10", "--url", closed),
        user("jobs", "--url", closed),
        user("login", "--url", closed, "--email", "a@example.com", "--password-stdin", stdin="pw"),
    ):
        assert done.returncode == 3, done.stderr
        assert done.stderr == f"error: cannot reach {closed}: Connection refused\n"

    bad_url = user("jobs", "--url", "localhost:8000")
    assert bad_url.returncode == 2
    assert "argument --url: expected http://HOST[:PORT]" in bad_url.stderr
    assert set(os.listdir(tmp_path)) == {"home", "photo.jpg"}, "no config, no result"


def serve_on(port: int, workdir: Path, concurrency: str) -> Server:
    """`imgflow serve` on a given port (restarting on the same address is the point);
    housekeeping re-publishes QUEUED jobs after a second, as a restarted in-process
    queue starts empty."""
    env = process_env(
        {"IMGFLOW_REQUEUE_AFTER_SECONDS": "1", "IMGFLOW_HOUSEKEEPING_INTERVAL_SECONDS": "1"}
    )
    log_path = workdir / "server.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [*COMMAND, "serve", "--port", str(port), "--concurrency", concurrency],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process, workdir, log_path)
    wait_healthy(server)
    return server


def test_submit_follows_the_job_across_an_api_restart(tmp_path: Path) -> None:
    """The API closes WebSockets with 1012 on SIGTERM: the client follows the job again
    on the restarted service and still gets its result."""
    port, workdir = free_port(), tmp_path / "serve"
    workdir.mkdir()
    servers = [serve_on(port, workdir, "convert=0")]  # the job waits in its queue
    follower: subprocess.Popen[str] | None = None
    try:
        user = new_cli(tmp_path / "user", servers[0])
        registered = user(
            "login", "--register", "--email", "restart@example.com", "--password-stdin",
            stdin=PASSWORD,
        )  # fmt: skip
        assert registered.returncode == 0, registered.stderr
        follower = subprocess.Popen(
            [*COMMAND, "submit", photo(user.root).name, "--convert", "png"],
            cwd=user.root,
            env=user.environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert follower.stderr is not None
        lines = [follower.stderr.readline(), follower.stderr.readline()]
        assert lines[1].split()[1:] == ["QUEUED", "(queue", "CONVERT)"], lines
        stop_server(servers[0])
        servers.append(serve_on(port, workdir, "convert=1"))
        out, err = follower.communicate(timeout=60)
    finally:
        if follower is not None:
            follower.kill()
        for server in servers:
            stop_server(server)
    assert follower.returncode == 0, "".join(lines) + err
    assert "following again (1/5)" in err
    assert " SUCCEEDED " in err
    assert out.strip().endswith(".png")
    assert (user.root / out.strip()).is_file()
    assert "Traceback" not in err + (workdir / "server.log").read_text()


def test_submit_with_variants_and_a_srcset_saves_every_output(cli: Cli) -> None:
    source = photo(cli.root)

    done = cli(
        "submit",
        source.name,
        "--crop",
        "0,0,640,400",
        "--variant",
        "thumb=resize 100x100;convert webp:90",
        "--variant",
        "mono=grayscale",
        "--srcset",
        "160,320,4000",
        "--srcset-format",
        "png",
    )

    assert done.returncode == 0, done.stderr
    job_id = submitted_id(done.stderr)
    prefix = f"photo.{job_id[:8]}"
    expected = {
        f"{prefix}.thumb.webp": ("WEBP", (100, 62)),
        f"{prefix}.mono.jpg": ("JPEG", (640, 400)),
        f"{prefix}.w160.png": ("PNG", (160, 100)),
        f"{prefix}.w320.png": ("PNG", (320, 200)),
    }
    assert sorted(done.stdout.splitlines()) == sorted(expected)
    with Image.open(source) as original:
        cropped = original.convert("RGB").crop((0, 0, 640, 400))
    for name, (fmt, size) in expected.items():
        with Image.open(cli.root / name) as output:
            assert (output.format, output.size) == (fmt, size)
            reference = cropped.resize(size, Image.Resampling.LANCZOS)
            if name.endswith(".mono.jpg"):
                assert output.mode == "L"
                reference = reference.convert("L")
            assert similarity(output, reference) > 0.9, name


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--variant", "Thumb=resize 10"], "expected NAME=STEPS"),
        (["--variant", "t=spin 90"], "unknown step 'spin'"),
        (["--variant", "t=resize"], "step resize needs"),
        (["--srcset", "320,abc"], "a width must be a whole number"),
        (["--resize", "10", "--srcset-format", "webp"], "--srcset-format needs --srcset"),
    ],
)
def test_bad_output_flags_are_usage_errors(cli: Cli, flags: list[str], words: str) -> None:
    source = photo(cli.root)
    done = cli("submit", source.name, *flags)
    assert done.returncode == 2
    assert words in done.stderr


def test_analyze_alone_prints_the_analysis_and_saves_nothing(cli: Cli) -> None:
    source = cli.root / "colours.png"
    quadrants(80, 60).save(source)

    done = cli("submit", source.name, "--analyze")

    assert done.returncode == 0, done.stderr
    printed = dict(line.split(" ", 1) for line in done.stdout.splitlines()[:4])
    assert printed["phash"] == str(imagehash.phash(quadrants(80, 60)))
    assert len(printed["colors"].split()) == 4  # the four quadrants' colours
    assert printed["frames"] == "1"
    assert sorted(p.name for p in cli.root.iterdir() if p.is_file()) == ["colours.png"]


def test_a_preset_runs_by_name(cli: Cli, server: Server) -> None:
    token = json.loads((cli.config / "credentials.json").read_text())[server.base_url]
    preset = (
        'mutation { createPreset(name: "small", operations: [{resize: {width: 40}}]) { name } }'
    )
    made = httpx.post(
        f"{server.base_url}/graphql",
        json={"query": preset},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert made.json() == {"data": {"createPreset": {"name": "small"}}}
    source = cli.root / "colours.png"
    quadrants(80, 60).save(source)

    done = cli("submit", source.name, "--preset", "small")

    assert done.returncode == 0, done.stderr
    [saved] = done.stdout.splitlines()
    with Image.open(cli.root / saved) as result:
        assert result.size == (40, 30)
    refused = cli("submit", source.name, "--preset", "missing")
    assert refused.returncode == 1
    assert "NOT_FOUND: no preset named 'missing'" in refused.stderr
