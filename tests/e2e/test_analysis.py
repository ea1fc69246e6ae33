"""`analyze: true` end to end on both backend mixes: the figures judged against the
libraries people compare them with (blurhash-python, imagehash) on the same upright
image, colours by the regions of a known picture, EXIF from a real camera photo."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import blurhash
import imagehash
import numpy as np
from PIL import Image, ImageOps

from tests.client import Client
from tests.corpus import corpus_dir
from tests.imaging import BLUE, RED, near, to_bytes, with_alpha

ANALYSIS = """analysis { blurhash dominantColors phash hasAlpha animated frames
                         exif { tag value } }"""
SUBMIT = """
mutation($file: Upload!, $operations: [OperationInput!], $analyze: Boolean!) {
  submitImage(file: $file, operations: $operations, analyze: $analyze) { id status }
}"""
FINAL = f"""
query($id: ID!) {{ job(id: $id) {{
  status error {{ code message }} result {{ format width height }}
  outputs {{ name image {{ url }} }} progress {{ done total }} {ANALYSIS}
}} }}"""
WATCH = f"subscription($id: ID!) {{ jobUpdated(id: $id) {{ status {ANALYSIS} }} }}"


def corpus_file(name: str) -> Path:
    root = corpus_dir()
    assert root is not None, "the shared image corpus (../shared/corpus) is needed"
    return root / name


def red_and_blue() -> Image.Image:
    """Red on the left two thirds, blue on the right third."""
    pixels = np.zeros((60, 90, 3), np.uint8)
    pixels[:, :60] = RED
    pixels[:, 60:] = BLUE
    return Image.fromarray(pixels)


def hex_rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


async def analysed(
    client: Client, data: bytes, operations: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """Submit with `analyze: true`, follow the job to its end; every event seen, last last."""
    variables = {"file": None, "operations": operations, "analyze": True}
    body = await client.multipart(SUBMIT, variables, {"file": data})
    assert not body.get("errors"), body
    job_id = body["data"]["submitImage"]["id"]
    async with client.subscription(WATCH, {"id": job_id}) as events:
        seen = [event["jobUpdated"] async for event in events]
    final = (await client.execute(FINAL, {"id": job_id}))["job"]
    return {"events": seen, **final}


async def test_analysis_of_a_job_with_outputs(client: Client) -> None:
    source = red_and_blue()
    job = await analysed(client, to_bytes(source, "PNG"), [{"resize": {"width": 45}}])
    assert job["status"] == "SUCCEEDED", job["error"]
    assert (job["result"]["width"], job["result"]["height"]) == (45, 30)
    analysis = job["analysis"]
    first, second, *_ = [hex_rgb(c) for c in analysis["dominantColors"]]
    assert near(first, RED), analysis["dominantColors"]
    assert near(second, BLUE), analysis["dominantColors"]
    assert str(imagehash.phash(source)) == analysis["phash"]
    assert (analysis["hasAlpha"], analysis["animated"], analysis["frames"]) == (False, False, 1)
    assert analysis["exif"] == []
    # The placeholder, decoded as a page would, is red on the left and blue on the right.
    placeholder = blurhash.decode(analysis["blurhash"], 90, 60)
    assert near(placeholder.getpixel((10, 30)), RED, 40)
    assert near(placeholder.getpixel((85, 30)), BLUE, 60)


async def test_the_analysis_is_shown_before_the_job_ends(client: Client) -> None:
    """Subscribed to all of the user's jobs before submitting (a first job proves the
    subscription is live), every change of the analysed job arrives: the analysis comes
    while it is still PROCESSING, before its output is stored."""
    query = f"subscription {{ jobsUpdated {{ id status {ANALYSIS} }} }}"
    variables = {"operations": [{"rotate": {"degrees": 90}}], "analyze": True}
    async with client.subscription(query) as events:
        probe = await client.multipart(
            SUBMIT,
            {"file": None, **variables, "analyze": False},
            {"file": to_bytes(red_and_blue(), "PNG")},
        )
        probe_id = probe["data"]["submitImage"]["id"]
        async for event in events:
            if event["jobsUpdated"]["id"] == probe_id:
                break
        body = await client.multipart(
            SUBMIT, {"file": None, **variables}, {"file": to_bytes(red_and_blue(), "PNG")}
        )
        job_id = body["data"]["submitImage"]["id"]
        seen: list[dict[str, Any]] = []
        async with asyncio.timeout(60):
            async for event in events:
                update = event["jobsUpdated"]
                if update["id"] == job_id:
                    seen.append(update)
                    if update["status"] in ("SUCCEEDED", "FAILED"):
                        break
    assert [u["status"] for u in seen] == ["QUEUED", "PROCESSING", "PROCESSING", "SUCCEEDED"]
    assert [u["analysis"] is not None for u in seen] == [False, False, True, True]
    assert seen[2]["analysis"] == seen[3]["analysis"]


async def test_an_analysis_only_job_has_no_outputs(client: Client) -> None:
    path = corpus_file("jpeg/orientation/recurser_Landscape_6.jpg")
    job = await analysed(client, path.read_bytes(), None)
    assert job["status"] == "SUCCEEDED", job["error"]
    assert (job["outputs"], job["result"]) == ([], None)
    assert job["progress"] == {"done": 0, "total": 0}
    upright = ImageOps.exif_transpose(Image.open(path))
    assert job["analysis"]["phash"] == str(imagehash.phash(upright))
    # The upright picture is the one analysed: its placeholder has the upright shape's
    # colours where the upright picture has them.
    small = upright.convert("RGB").resize((12, 18))
    decoded = blurhash.decode(job["analysis"]["blurhash"], 12, 18)
    assert np.abs(np.asarray(small, float) - np.asarray(decoded, float)).mean() < 40


async def test_camera_facts_without_the_position(client: Client) -> None:
    photo = corpus_file("jpeg/pixel8_gainmap_mpf_PXL_20240119.jpg").read_bytes()
    job = await analysed(client, photo, None)
    exif = {entry["tag"]: entry["value"] for entry in job["analysis"]["exif"]}
    assert exif["Make"] == "Google"
    assert exif["Model"] == "Pixel 8 Pro"
    assert exif["LensModel"] == "Pixel 8 Pro back camera 18.0mm f/2.8"
    assert exif["DateTimeOriginal"] == "2024:01:18 16:32:10"
    assert exif["ExposureTime"] == "1/13699"
    assert exif["FNumber"] == "2.8"
    assert exif["ISOSpeedRatings"] == "20"
    assert not [tag for tag in exif if tag.startswith("GPS")]  # the file has them: hidden


async def test_transparency_and_animation(client: Client) -> None:
    frames = [
        with_alpha(Image.new("RGB", (40, 30), c), np.full((30, 40), 255)) for c in (RED, BLUE, RED)
    ]
    for frame in frames:
        frame.putpixel((0, 0), (0, 0, 0, 0))
    buffer = io.BytesIO()
    frames[0].save(
        buffer, "WEBP", save_all=True, append_images=frames[1:], duration=50, lossless=True
    )
    job = await analysed(client, buffer.getvalue(), [{"resize": {"width": 20}}])
    analysis = job["analysis"]
    assert (analysis["hasAlpha"], analysis["animated"], analysis["frames"]) == (True, True, 3)
    # The first frame's colour; the one transparent pixel is not counted as a colour.
    assert analysis["dominantColors"] == ["#{:02x}{:02x}{:02x}".format(*RED)]


TICKET = """
mutation($preset: String, $analyze: Boolean!) {
  requestUpload(filename: "photo.jpg", contentType: "image/jpeg", analyze: $analyze,
                preset: $preset) {
    job { id status } url fields { name value }
  }
}"""


async def test_a_direct_upload_is_analysed(client: Client) -> None:
    ticket = (await client.execute(TICKET, {"analyze": True}))["requestUpload"]
    fields = {f["name"]: f["value"] for f in ticket["fields"]}
    data = to_bytes(red_and_blue(), "PNG")
    response = await client.http.post(ticket["url"], data=fields, files={"file": ("x", data)})
    assert response.status_code in (200, 201, 204), response.text
    job_id = ticket["job"]["id"]
    await client.execute("mutation($id: ID!) { confirmUpload(jobId: $id) { id } }", {"id": job_id})
    async with client.subscription(WATCH, {"id": job_id}) as events:
        [event async for event in events]
    job = (await client.execute(FINAL, {"id": job_id}))["job"]
    assert job["status"] == "SUCCEEDED", job["error"]
    assert job["outputs"] == []
    assert job["analysis"]["phash"] == str(imagehash.phash(red_and_blue()))


async def test_a_direct_upload_may_name_a_preset(client: Client) -> None:
    create = 'mutation { createPreset(name: "info", analyze: true) { name } }'
    await client.execute(create)
    ticket = (await client.execute(TICKET, {"analyze": False, "preset": "info"}))["requestUpload"]
    assert ticket["job"]["status"] == "AWAITING_UPLOAD"
    missing = await client.raw(TICKET, {"analyze": False, "preset": "nope"})
    assert [e["extensions"]["code"] for e in missing["errors"]] == ["NOT_FOUND"]
