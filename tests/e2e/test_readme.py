"""The README's quick start, run as printed against a real server: the shell lines
(register, submit, watch, download with curl and Python) and the Node `watch.mjs`.

Only the address is changed (the server listens on a free port), and the email, so
runs on a shared server cannot collide.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from PIL import Image

from tests.client import Client
from tests.conftest import ROOT, Server
from tests.imaging import open_bytes, similarity

README = (ROOT / "README.md").read_text()
QUICK_START = README[README.index("## Quick start") : README.index("### The live page")]
CLIENTS = ROOT / "tests" / "clients"


def block(language: str, first_line: str) -> str:
    """The fenced block of `language` in the quick start that starts with `first_line`."""
    for found in re.finditer(rf"```{language}\n(.*?)```", QUICK_START, re.DOTALL):
        if found.group(1).startswith(first_line):
            return found.group(1)
    raise AssertionError(f"no ```{language} block starting {first_line!r} in the quick start")


def photo(path: Path) -> Image.Image:
    """A 1200x900 picture with shapes and gradients, saved as a JPEG."""
    picture = Image.radial_gradient("L").resize((1200, 900)).convert("RGB")
    picture.paste((200, 40, 40), (100, 100, 500, 400))
    picture.paste((40, 160, 60), (700, 450, 1100, 800))
    picture.save(path, quality=92)
    return Image.open(path).convert("RGB")


def test_the_shell_quick_start_runs_as_printed(server: Server, tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.fail("curl is needed to run the README's quick start")
    script = block("sh", "API=").replace("http://127.0.0.1:8000", server.base_url)
    script = script.replace("ada@example.com", f"ada-{uuid.uuid4().hex[:8]}@example.com")
    source = photo(tmp_path / "photo.jpg")

    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((tmp_path / "job.json").read_text())["data"]["job"]["status"] == "SUCCEEDED"
    result = open_bytes((tmp_path / "photo-800.webp").read_bytes())
    assert (result.format, result.size) == ("WEBP", (800, 600))
    assert similarity(result, source.resize((800, 600), Image.Resampling.LANCZOS)) > 0.9


async def test_the_node_watch_snippet_runs_as_printed(
    server: Server, client: Client, tmp_path: Path
) -> None:
    if shutil.which("node") is None or not (CLIENTS / "node_modules").exists():
        pytest.fail("Node.js and tests/clients/node_modules (npm ci) are needed")
    ws_url = server.base_url.replace("http://", "ws://", 1)
    script = block("js", "// watch.mjs").replace("ws://127.0.0.1:8000", ws_url)
    # Beside node_modules, so `import "graphql-ws"` resolves as in the reader's project.
    module = CLIENTS / "build" / f"readme-watch-{uuid.uuid4().hex[:8]}.mjs"
    module.parent.mkdir(exist_ok=True)
    module.write_text(script)
    photo(tmp_path / "photo.jpg")
    job = await client.submit((tmp_path / "photo.jpg").read_bytes(), [{"resize": {"width": 300}}])
    try:
        done = subprocess.run(
            ["node", str(module)],
            env={**os.environ, "TOKEN": client.token or "", "JOB": job["id"]},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        module.unlink()

    assert done.returncode == 0, done.stdout + done.stderr
    states = [json.loads(line) for line in done.stdout.splitlines()]
    assert states[-1]["status"] == "SUCCEEDED"
    assert (states[-1]["result"]["width"], states[-1]["result"]["height"]) == (300, 225)


def test_the_command_line_quick_start_runs_as_printed(server: Server, tmp_path: Path) -> None:
    lines = block("sh", ".venv/bin/imgflow login").strip().splitlines()
    imgflow = str(Path(sys.executable).parent / "imgflow")  # this checkout's .venv/bin/imgflow
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    source = photo(tmp_path / "photo.jpg")
    env = {**os.environ, "IMGFLOW_URL": server.base_url, "XDG_CONFIG_HOME": str(tmp_path)}
    for line in lines:
        argv = shlex.split(line.replace("ada@example.com", email), comments=True)
        assert argv[0] == ".venv/bin/imgflow"
        done = subprocess.run(
            [imgflow, *argv[1:]],
            cwd=tmp_path,
            env=env,
            input="correct horse battery\n" * 2,  # the password, asked twice to register
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, (line, done.stdout, done.stderr)

    (saved,) = tmp_path.glob("photo.*.webp")
    result = open_bytes(saved.read_bytes())
    assert (result.format, result.size) == ("WEBP", (800, 600))
    assert similarity(result, source.resize((800, 600), Image.Resampling.LANCZOS)) > 0.9
