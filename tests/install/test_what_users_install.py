"""What users install is what must work.

The rest of the suite runs in a venv holding the dev extras, which can hide a runtime
import that only a dev package brings (numpy once did). Here the project is installed
the two ways the README gives, each into a venv of its own, from a copy of the tree as
a fresh clone would have it:

- the wheel, without extras (`pip install .`): every module of the four packages
  imports from site-packages, and `imgflow serve` runs a job on each backend mix;
- the README's first command, `./scripts/serve`, runs a job, and starts again without
  reinstalling when nothing changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import ROOT, Server, new_user, start_imgflow, stop_server
from tests.imaging import open_bytes, quadrants, to_bytes

PACKAGES = ("imgflow", "gql", "resolvers", "workers", "loadtest")
DEV_ONLY = ("pytest", "skimage", "moto", "hypothesis", "selenium", "deptry")
INSTALL_SECONDS = 600  # a cold pip cache downloads every dependency
PIP_QUIET = ("--quiet", "--disable-pip-version-check")

IMPORT_EVERY_MODULE = f"""
import importlib, json, pkgutil
loaded = {{}}
for top in {PACKAGES!r}:
    package = importlib.import_module(top)
    for info in pkgutil.walk_packages(package.__path__, top + "."):
        if not info.name.endswith(".__main__"):  # runs its command when imported
            loaded[info.name] = importlib.import_module(info.name).__file__
missing = []
for name in {DEV_ONLY!r}:
    try:
        importlib.import_module(name)
    except ImportError:
        missing.append(name)
print(json.dumps({{"modules": loaded, "dev_only_missing": missing}}))
"""


# Session scope, not module: the serve test is parametrised by the session-scoped
# `backend`, so pytest orders this module's tests into three separate runs (embedded,
# services, no backend), and a module-scoped venv was torn down and rebuilt for each
# (about 50 s a time). No test changes the venv, and the tree gains only what the
# README's command makes in it (.venv, imgflow-data), after the wheel is built.
@pytest.fixture(scope="session")
def fresh_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files git would check out (tracked, plus new ones not ignored): no .venv, no
    build leftovers, no caches."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    tree = tmp_path_factory.mktemp("clone") / "imgflow"
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # listed but deleted in the work tree: not in a clone either
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, tree / name)
    return tree


@pytest.fixture(scope="session")
def wheel(fresh_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built from the fresh tree as `pip install .` builds it."""
    wheels = tmp_path_factory.mktemp("wheel")
    run(
        [sys.executable, "-m", "pip", "wheel", *PIP_QUIET, "--no-deps", "-w", str(wheels), "."],
        cwd=fresh_tree,
    )
    (built,) = wheels.glob("imgflow-*.whl")
    return built


@pytest.fixture(scope="session")
def readme_first_start(
    fresh_tree: Path, wheel: Path, scripts_serve: tuple[str, ...]
) -> Iterator[Future[Server]]:
    """The README's run command started for the first time in the fresh tree (it makes
    .venv and installs into it), in a thread: `plain_venv` installs meanwhile. Each
    install is mostly one process on one core; one after the other they took about 55 s
    each on the 2-core machine. Asked for after the wheel, so the two builds never
    share the tree; the README test waits for this start and checks it."""
    with ThreadPoolExecutor(1) as pool:
        starting = pool.submit(
            start_imgflow, fresh_tree, {}, "", program=scripts_serve, healthy_within=INSTALL_SECONDS
        )
        try:
            yield starting
        finally:
            with contextlib.suppress(Exception):
                server = starting.result()
                if server.alive():
                    stop_server(server)
            shutil.rmtree(fresh_tree / "imgflow-data", ignore_errors=True)


@pytest.fixture(scope="session")
def plain_venv(
    wheel: Path, readme_first_start: Future[Server], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A new venv holding the wheel and its runtime dependencies only."""
    venv = tmp_path_factory.mktemp("plain") / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=venv.parent)
    run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", *PIP_QUIET, str(wheel)],
        cwd=venv.parent,
    )
    return venv


def run(argv: list[str], cwd: Path) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=INSTALL_SECONDS)
    assert done.returncode == 0, f"{argv} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.timeout(INSTALL_SECONDS + 60)
def test_every_module_imports_from_the_plain_install(plain_venv: Path, tmp_path: Path) -> None:
    import json

    # Run outside the tree, so nothing can be imported from the sources by accident.
    out = run([str(plain_venv / "bin" / "python"), "-c", IMPORT_EVERY_MODULE], cwd=tmp_path)
    report = json.loads(out)
    modules: dict[str, str] = report["modules"]
    assert {
        "workers.codec",
        "imgflow.backends.storage.s3",
        "gql.query_limits",
        "imgflow.cli",
    } <= set(modules)
    assert all(str(plain_venv) in path for path in modules.values()), modules
    # The install really is the plain one: the dev extra is absent.
    assert sorted(report["dev_only_missing"]) == sorted(DEV_ONLY)


@pytest.mark.timeout(INSTALL_SECONDS + 60)
def test_the_plain_install_ships_what_operations_read(plain_venv: Path, tmp_path: Path) -> None:
    """The text watermark's font and the face cascades come with the install."""
    check = (
        "from PIL import Image, ImageChops\n"
        "from imgflow.imaging.ops.fill import Fill\n"
        "from imgflow.imaging.ops.text import FONT, Text\n"
        "from imgflow.imaging.placement import Gravity\n"
        "assert FONT.is_file(), FONT\n"
        "picture = Image.new('RGB', (300, 100), (0, 0, 80))\n"
        "written = Text('imgflow', size=30, opacity=1).apply(picture)\n"
        "assert ImageChops.difference(written, picture).getbbox() is not None\n"
        "print(Fill(50, 50, Gravity.FACES).apply(picture).size)\n"
    )
    assert (
        run([str(plain_venv / "bin" / "python"), "-c", check], cwd=tmp_path).strip() == "(50, 50)"
    )


@pytest.mark.timeout(INSTALL_SECONDS + 60)
def test_the_plain_install_serves_a_job(
    plain_venv: Path, backend: dict[str, str], tmp_path: Path
) -> None:
    imgflow = str(plain_venv / "bin" / "imgflow")
    # As users run it: the default argon2 profile, not the suite's cheaper one.
    settings = {**backend, "IMGFLOW_PASSWORD_PROFILE": "rfc9106-low-memory"}
    server = start_imgflow(tmp_path / "serve", settings, "serve", program=(imgflow,))
    try:
        asyncio.run(resize_one_image(server))
    finally:
        stop_server(server)
    assert "Traceback" not in server.log(), server.tracebacks()


@pytest.fixture(scope="session")
def scripts_serve(fresh_tree: Path) -> tuple[str, ...]:
    return (str(fresh_tree / "scripts" / "serve"),)


@pytest.mark.timeout(2 * INSTALL_SECONDS)
def test_the_readme_run_command_serves_a_job_and_restarts_without_reinstalling(
    fresh_tree: Path, scripts_serve: tuple[str, ...], readme_first_start: Future[Server]
) -> None:
    readme = (fresh_tree / "README.md").read_text()
    assert "\n./scripts/serve\n" in readme  # the command as the README prints it

    first = readme_first_start.result(timeout=INSTALL_SECONDS)
    try:
        asyncio.run(resize_one_image(first))
    finally:
        stop_server(first)
    stamp = fresh_tree / ".venv" / ".imgflow-installed"
    installed_at = stamp.stat().st_mtime_ns

    second = start_imgflow(fresh_tree, {}, "", program=scripts_serve)
    stop_server(second)
    assert stamp.stat().st_mtime_ns == installed_at  # no second install
    for server in (first, second):
        assert "Traceback" not in server.log(), server.tracebacks()


async def resize_one_image(server: Server) -> None:
    client = await new_user(server.base_url)
    try:
        job = await client.submit(to_bytes(quadrants(64, 48), "PNG"), [{"resize": {"width": 32}}])
        events = await client.watch(job["id"])
        result = events[-1]["result"]
        assert events[-1]["status"] == "SUCCEEDED", events[-1]
        response = await client.http.get(result["url"])
        picture = open_bytes(response.content)
        assert picture.size == (32, 24)
        assert picture.getpixel((4, 4))[:3] == quadrants(64, 48).getpixel((8, 8))[:3]
    finally:
        await client.close()
