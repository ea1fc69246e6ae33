"""The hostile half of the shared corpus (`hostile/` and every `reject` row) against a
real server, through both ways in: `submitImage`, and the direct upload (requestUpload,
POST the form, confirmUpload). Each file must get its own code on both paths, nothing
half-done may be left behind, the server must stay healthy, and its memory bounded.

tests/e2e/test_corpus.py already sends every file through `submitImage` with four
operations and accepts any clear code; this holds each file to the one right code.
Also here: no upload ever reaches Ghostscript, proved with a fake `gs` on the PATH of a
real `imgflow serve`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.client import Client
from tests.conftest import Server, new_user, start_server, stop_server
from tests.corpus import CorpusFile, corpus_dir, corpus_files
from tests.imaging import quadrants, to_bytes

OPERATIONS = [{"rotate": {"degrees": 90}}]
REQUEST = """mutation($name: String!, $type: String!, $ops: [OperationInput!]!) {
  requestUpload(filename: $name, contentType: $type, operations: $ops) {
    job { id } url fields { name value } } }"""
CONFIRM = "mutation($id: ID!) { confirmUpload(jobId: $id) { id status error { code } } }"
SUCCEEDED = "SUCCEEDED"

EXPECTED: dict[str, str] = {
    # Declared sizes far over the limit: refused from the header, never decoded.
    "hostile/bomb_bmp_badwidth.bmp": "IMAGE_TOO_LARGE",
    "hostile/bomb_bmp_reallybig.bmp": "IMAGE_TOO_LARGE",
    "hostile/bomb_gif_decompression_bomb.gif": "IMAGE_TOO_LARGE",
    "hostile/bomb_png_12000x12000_gray_under_pillow_limit.png": "IMAGE_TOO_LARGE",
    "hostile/bomb_png_50000x50000_1bit.png": "IMAGE_TOO_LARGE",
    "hostile/bomb_png_65536x65536_uint32-limit.png": "IMAGE_TOO_LARGE",
    "hostile/empty.jpg": "EMPTY_FILE",
    # Not one of the accepted formats, whatever the name says: no plugin ever sees it.
    "hostile/eps_pillow_1.eps": "UNSUPPORTED_FORMAT",
    "hostile/eps_zero_bb.eps": "UNSUPPORTED_FORMAT",
    "hostile/imagetragick_mvg_text_as.jpg": "UNSUPPORTED_FORMAT",
    "hostile/not_an_image_html_404.jpg": "UNSUPPORTED_FORMAT",
    "hostile/pdf_blankpage.pdf": "UNSUPPORTED_FORMAT",
    "hostile/pdf_trailer_loop.pdf": "UNSUPPORTED_FORMAT",
    "hostile/png_bad_signature_pngsuite_xs1n0g01.png": "UNSUPPORTED_FORMAT",
    "hostile/svg_w3c_check.svg": "UNSUPPORTED_FORMAT",
    "hostile/svgz_vips_logo.svgz": "UNSUPPORTED_FORMAT",
    "other-formats/icon_favicon.ico": "UNSUPPORTED_FORMAT",
    "other-formats/icon_python.ico": "UNSUPPORTED_FORMAT",
    "other-formats/jpeg2000_relax.jp2": "UNSUPPORTED_FORMAT",
    "other-formats/photoshop_mini.psd": "UNSUPPORTED_FORMAT",
    "other-formats/targa_vips.tga": "UNSUPPORTED_FORMAT",
    # An accepted format's signature on data its decoder refuses: at the header
    # (ingest) or, for damage only decoding finds, in the worker.
    "bmp/rgb32bf.bmp": "CORRUPT_IMAGE",
    "jpeg/twelve_bit_monkey12.jpg": "CORRUPT_IMAGE",
    "hostile/corrupt-header.jpg": "CORRUPT_IMAGE",
    "hostile/gif_invalid_multiframe.gif": "CORRUPT_IMAGE",
    "hostile/png_bad_ihdr_crc_pngsuite_xhdn0g08.png": "CORRUPT_IMAGE",
    "hostile/png_ztxt_bomb_png_decompression_dos.png": "CORRUPT_IMAGE",
    "hostile/tiff_crash-2020-10-test.tif": "CORRUPT_IMAGE",
    "hostile/tiff_oom-225817ca.tif": "CORRUPT_IMAGE",
    "hostile/tiff_seek_too_large.tif": "CORRUPT_IMAGE",
    "hostile/truncated_flickr_head-c-10000.jpg": "CORRUPT_IMAGE",
    "hostile/truncated_pillow_image.png": "CORRUPT_IMAGE",
    "hostile/truncated_progressive_jpeg.jpg": "CORRUPT_IMAGE",
    "hostile/truncated_saw_head-c-10000.png": "CORRUPT_IMAGE",
    "hostile/webp_large-huffman-index.lossless.webp": "CORRUPT_IMAGE",
    # Hostile but valid images: processed, re-encoded from pixels.
    "hostile/md5_collision_pair_1.png": SUCCEEDED,
    "hostile/md5_collision_pair_2.png": SUCCEEDED,
    "hostile/png_imagemagick_CVE-2022-44268_profile_etc_passwd.png": SUCCEEDED,
    "hostile/polyglot_gif_js.gif": SUCCEEDED,
    "hostile/polyglot_jpeg_mp3_pVG.jpg": SUCCEEDED,
    "hostile/webp_looks-like-svg.webp": SUCCEEDED,
}
EITHER = {"hostile/png_missing_iend_truncated_crc_smallest-invalid.png"}
"""The manifest accepts processing or a clear refusal."""
CLEAR_CODES = {"UNSUPPORTED_FORMAT", "CORRUPT_IMAGE", "IMAGE_TOO_LARGE", "EMPTY_FILE"}

RSS_GROWTH_BOUND = 100 * 1024 * 1024
"""How far the server's peak memory may rise above its resident size while the whole
hostile set goes through both paths. Refused files are never decoded: the rise is the
worker decoding the truncated files up to their damage (a 6 Mpx JPEG at most), the
valid hostile images (under 0.4 Mpx), allocator arenas of the pool threads and request
buffers; measured at about 30 MiB. Decoding the smallest bomb here, the 12000 x 12000
gray PNG, raises the peak by about 280 MiB (seen by letting it in with a higher
IMGFLOW_MAX_PIXELS), so any bomb that got decoded breaks the bound on its own."""


@dataclass
class Paths:
    """What one file got through each way in: SUCCEEDED, or the refusal code."""

    submitted: str
    submitted_job: bool
    """Whether `submitImage` created a job (false when refused at submission)."""
    uploaded: str
    form_refused: bool
    """Whether the upload form itself refused the file (its job then still awaits one)."""


def hostile_files() -> list[CorpusFile]:
    return [
        item
        for item in corpus_files()
        if item.name.startswith("hostile/") or not item.should_process
    ]


def memory(server: Server) -> dict[str, int]:
    """VmRSS and VmHWM of the server process, in bytes."""
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {name: int(fields[name].split()[0]) * 1024 for name in ("VmRSS", "VmHWM")}


def reset_peak(server: Server) -> bool:
    """Start the peak (VmHWM) afresh at the current RSS (Linux 4.0+); False if refused."""
    try:
        Path(f"/proc/{server.process.pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


async def final(client: Client, job_id: str) -> dict[str, Any]:
    return (await asyncio.wait_for(client.watch(job_id), timeout=120))[-1]


async def outcome_of(client: Client, job: dict[str, Any]) -> str:
    """SUCCEEDED or the code, once the job has ended."""
    if job["status"] not in ("SUCCEEDED", "FAILED", "CANCELLED"):
        job = await final(client, job["id"])
    if job["status"] == "SUCCEEDED":
        return SUCCEEDED
    return str((job.get("error") or {}).get("code"))


async def submit(client: Client, data: bytes, name: str) -> tuple[str, bool]:
    """The outcome, and whether a job was created for it."""
    body = await client.upload_raw(data, OPERATIONS, filename=Path(name).name)
    if body.get("errors"):
        return str(body["errors"][0]["extensions"]["code"]), False
    return await outcome_of(client, body["data"]["submitImage"]), True


async def upload(client: Client, data: bytes, name: str, content_type: str) -> tuple[str, bool]:
    """requestUpload, the form, confirmUpload: the outcome, and whether the form itself
    refused the file (the embedded one refuses an empty file, with the code)."""
    variables = {"name": Path(name).name, "type": content_type, "ops": OPERATIONS}
    ticket = (await client.execute(REQUEST, variables))["requestUpload"]
    fields = {field["name"]: field["value"] for field in ticket["fields"]}
    response = await client.http.post(
        ticket["url"], data=fields, files={"file": (Path(name).name, data)}
    )
    if response.status_code >= 400:
        return str(response.json()["error"]), True
    job = (await client.execute(CONFIRM, {"id": ticket["job"]["id"]}))["confirmUpload"]
    return await outcome_of(client, job), False


async def both_paths(client: Client, item: CorpusFile) -> Paths:
    data = item.path.read_bytes()
    (submitted, created), (uploaded, form_refused) = await asyncio.gather(
        submit(client, data, item.name), upload(client, data, item.name, "image/jpeg")
    )
    return Paths(submitted, created, uploaded, form_refused)


def acceptable(name: str, outcome: str) -> bool:
    if name in EITHER:
        return outcome == SUCCEEDED or outcome in CLEAR_CODES
    return outcome == EXPECTED.get(name)


@pytest.mark.skipif(corpus_dir() is None, reason="../shared/corpus is absent")
async def test_hostile_files_get_their_code_on_both_paths_with_bounded_memory(
    server: Server, client: Client
) -> None:
    files = hostile_files()
    unknown = {item.name for item in files} - EXPECTED.keys() - EITHER
    assert not unknown, f"new hostile or reject rows: add their expected code: {unknown}"
    before = memory(server)
    peak_was_reset = reset_peak(server)
    gate = asyncio.Semaphore(4)

    async def run(item: CorpusFile) -> tuple[str, Paths]:
        async with gate:
            return item.name, await both_paths(client, item)

    outcomes = dict(await asyncio.gather(*(run(item) for item in files)))
    after = memory(server)

    wrong = {
        name: paths
        for name, paths in outcomes.items()
        if not (acceptable(name, paths.submitted) and acceptable(name, paths.uploaded))
    }
    assert wrong == {}, wrong
    await assert_nothing_half_done(client, outcomes)
    await assert_healthy(server, client)
    floor = before["VmRSS"] if peak_was_reset else max(before["VmHWM"], before["VmRSS"])
    print(
        f"hostile corpus, {len(files)} files x 2 paths: VmRSS {before['VmRSS'] >> 20} -> "
        f"{after['VmRSS'] >> 20} MiB, peak {after['VmHWM'] >> 20} MiB "
        f"(reset: {peak_was_reset}, was {before['VmHWM'] >> 20} MiB)"
    )
    assert after["VmHWM"] - floor < RSS_GROWTH_BOUND, (before, after)
    assert after["VmRSS"] - before["VmRSS"] < RSS_GROWTH_BOUND, (before, after)


async def assert_nothing_half_done(client: Client, outcomes: dict[str, Paths]) -> None:
    """A file refused at submission left no job; every direct upload has its one job
    (its ticket made it); none is left queued or running, and only a ticket whose form
    refused the file still awaits one."""
    data = await client.execute("{ jobs(first: 100) { edges { node { status } } } }")
    statuses = [edge["node"]["status"] for edge in data["jobs"]["edges"]]
    submitted_jobs = sum(paths.submitted_job for paths in outcomes.values())
    assert len(statuses) == len(outcomes) + submitted_jobs
    awaiting = sum(paths.form_refused for paths in outcomes.values())
    assert statuses.count("AWAITING_UPLOAD") == awaiting
    assert set(statuses) <= {"SUCCEEDED", "FAILED", "AWAITING_UPLOAD"}
    assert not all(paths.submitted_job for paths in outcomes.values())  # some were refused


async def assert_healthy(server: Server, client: Client) -> None:
    assert server.alive()
    assert (await client.http.get(f"{server.base_url}/healthz")).status_code == 200
    job = await client.submit(to_bytes(quadrants(), "PNG"), OPERATIONS)
    assert (await final(client, job["id"]))["status"] == "SUCCEEDED"


# --- Ghostscript ------------------------------------------------------------------------

EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n0 0 moveto 10 10 lineto stroke\n"
DOS_EPS = b"\xc5\xd0\xd3\xc6\x20\x00\x00\x00" + bytes(24) + EPS
POSTSCRIPT = b"%!PS-Adobe-3.0\n/Times-Roman findfont 12 scalefont setfont\n(hi) show showpage\n"


def fake_ghostscript(directory: Path, marker: Path) -> str:
    """A `gs` that records every run in `marker`; returns a PATH that finds it first."""
    directory.mkdir()
    gs = directory / "gs"
    gs.write_text(f'#!/bin/sh\necho "gs $*" >> "{marker}"\nexit 0\n')
    gs.chmod(0o755)
    return f"{directory}{os.pathsep}{os.environ.get('PATH', '')}"


def postscript_samples() -> list[tuple[str, bytes, str]]:
    """(file name, bytes, declared type): EPS as it is, and PostScript dressed as PNG."""
    samples = [
        ("drawing.eps", EPS, "application/postscript"),
        ("drawing-dos.eps", DOS_EPS, "application/postscript"),
        ("photo.png", POSTSCRIPT, "image/png"),
    ]
    root = corpus_dir()
    for path in sorted(root.glob("hostile/*.eps")) if root else []:
        samples.append((path.name, path.read_bytes(), "application/postscript"))
    return samples


async def test_no_upload_ever_reaches_ghostscript(tmp_path: Path, backend: dict[str, str]) -> None:
    marker = tmp_path / "gs-was-run"
    path = fake_ghostscript(tmp_path / "bin", marker)
    # The fake is what a process with this PATH runs as `gs`, and it leaves its mark.
    assert shutil.which("gs", path=path) == str(tmp_path / "bin" / "gs")
    subprocess.run(["gs", "--version"], env={"PATH": path}, check=True)
    assert marker.read_text() == "gs --version\n"
    marker.unlink()

    env = {**backend, "PATH": path, "IMGFLOW_NAMESPACE": f"gs-{uuid.uuid4().hex[:8]}"}
    server = start_server(tmp_path / "serve", env)
    try:
        client = await new_user(server.base_url)
        for name, data, content_type in postscript_samples():
            assert await submit(client, data, name) == ("UNSUPPORTED_FORMAT", False), name
            assert await upload(client, data, name, content_type) == ("UNSUPPORTED_FORMAT", False)
        await client.close()
    finally:
        stop_server(server)
    assert not marker.exists(), marker.read_text()
