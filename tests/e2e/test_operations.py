"""The registry's newer operations end to end, on both backend sets: submitted through
GraphQL by a real client, run by the real worker, the downloaded picture judged."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.client import Client, GraphQLErrors
from tests.imaging import open_bytes, similarity
from tests.imaging import to_bytes as encode

BENCH_IMAGES = Path(__file__).resolve().parents[2].parent / "shared" / "bench-images"
PORTRAIT = BENCH_IMAGES / "photo_2mp.png"
"""An astronaut's portrait, her face 36-50% across and 14-30% down (labelled by eye)."""


async def result_of(client: Client, source: bytes, operations: list[dict[str, Any]]) -> Image.Image:
    job = await client.submit(source, operations)
    events = await client.watch(job["id"])
    assert events[-1]["status"] == "SUCCEEDED", events[-1]
    response = await client.http.get(events[-1]["result"]["url"])
    return open_bytes(response.content)


async def test_a_faces_fill_keeps_the_face_of_a_wide_picture(client: Client) -> None:
    portrait = Image.open(PORTRAIT).convert("RGB").resize((400, 400))
    wide = Image.new("RGB", (1600, 400), (120, 160, 90))
    wide.paste(portrait, (1150, 0))  # off-centre, near the right edge
    fill = {"fill": {"width": 200, "height": 200, "gravity": "FACES"}}
    image = await result_of(client, encode(wide, "PNG"), [fill])
    assert image.size == (200, 200)
    # The face's patch of the portrait is in the result, at the result's scale (1/2).
    face = portrait.crop((144, 56, 200, 120)).resize((28, 32))
    best = max(
        similarity(image.convert("RGB").crop((x, y, x + 28, y + 32)), face)
        for x in range(0, 172, 2)
        for y in range(0, 168, 2)
    )
    assert best > 0.8


async def test_a_focus_fill_keeps_the_point(client: Client) -> None:
    left, right = (
        Image.new("RGB", (300, 200), (200, 30, 30)),
        Image.new("RGB", (300, 200), (30, 30, 200)),
    )
    wide = Image.new("RGB", (600, 200))
    wide.paste(left, (0, 0))
    wide.paste(right, (300, 0))
    fill = {"fill": {"width": 50, "height": 50, "gravity": "FOCUS", "focusX": 0.9, "focusY": 0.5}}
    image = await result_of(client, encode(wide, "PNG"), [fill])
    assert similarity(image, Image.new("RGB", (50, 50), (30, 30, 200))) > 0.95


@pytest.mark.parametrize(
    "operation",
    [
        {"fill": {"width": 10, "height": 10, "gravity": "FOCUS"}},
        {"fill": {"width": 10, "height": 10, "focusX": 2.0, "focusY": 0.5, "gravity": "FOCUS"}},
        {"fill": {"width": 0, "height": 10}},
    ],
)
async def test_bad_arguments_are_refused_before_a_job_exists(
    client: Client, operation: dict[str, Any]
) -> None:
    with pytest.raises(GraphQLErrors) as caught:
        await client.submit(encode(Image.new("RGB", (20, 20)), "PNG"), [operation])
    assert caught.value.codes == ["BAD_USER_INPUT"]
    assert (await client.execute("{ jobs(first: 1) { edges { node { id } } } }"))["jobs"][
        "edges"
    ] == []


async def test_pad_centres_the_picture_on_the_background(client: Client) -> None:
    source = Image.new("RGB", (100, 50), (200, 30, 30))
    pad = {"pad": {"width": 100, "height": 100, "background": "#2040f0"}}
    image = (await result_of(client, encode(source, "PNG"), [pad])).convert("RGB")
    assert image.size == (100, 100)
    assert (
        similarity(image.crop((0, 0, 100, 20)), Image.new("RGB", (100, 20), (32, 64, 240))) > 0.99
    )
    assert (
        similarity(image.crop((0, 30, 100, 70)), Image.new("RGB", (100, 40), (200, 30, 30))) > 0.99
    )


async def test_adjust_darkens_and_greys(client: Client) -> None:
    source = Image.new("RGB", (40, 40), (200, 100, 50))
    adjust = {"adjust": {"brightness": 0.5, "saturation": 0}}
    image = (await result_of(client, encode(source, "PNG"), [adjust])).convert("RGB")
    red, green, blue = image.getpixel((20, 20))  # type: ignore[misc]
    assert abs(red - green) <= 2
    assert abs(green - blue) <= 2
    assert 45 <= red <= 70  # the grey of (200, 100, 50) is about 115; halved


async def test_overlay_places_a_logo_from_an_earlier_job(client: Client) -> None:
    logo = Image.new("RGBA", (40, 20), (220, 30, 30, 255))
    logo.paste((0, 0, 0, 0), (20, 0, 40, 20))  # its right half is transparent
    logo_job = await client.submit(encode(logo, "PNG"), [{"convert": {"format": "PNG"}}])
    assert (await client.watch(logo_job["id"]))[-1]["status"] == "SUCCEEDED"

    ground = Image.new("RGB", (200, 100), (40, 40, 40))
    overlay = {"overlay": {"image": logo_job["id"], "gravity": "SOUTH_EAST", "margin": 10}}
    image = (await result_of(client, encode(ground, "PNG"), [overlay])).convert("RGB")
    assert (
        similarity(image.crop((150, 70, 170, 90)), Image.new("RGB", (20, 20), (220, 30, 30))) > 0.99
    )
    assert (
        similarity(image.crop((170, 70, 190, 90)), Image.new("RGB", (20, 20), (40, 40, 40))) > 0.99
    )


async def test_another_users_job_cannot_be_overlaid(client: Client, other_client: Client) -> None:
    theirs = await other_client.submit(
        encode(Image.new("RGB", (8, 8)), "PNG"), [{"grayscale": True}]
    )
    assert (await other_client.watch(theirs["id"]))[-1]["status"] == "SUCCEEDED"
    for job_id in (theirs["id"], "no-such-job"):
        overlay = {"overlay": {"image": job_id}}
        with pytest.raises(GraphQLErrors) as caught:
            await client.submit(encode(Image.new("RGB", (50, 50)), "PNG"), [overlay])
        assert caught.value.codes == ["NOT_FOUND"]


async def test_text_is_written_over_the_picture(client: Client) -> None:
    ground = Image.new("RGB", (300, 100), (0, 0, 80))
    text = {
        "text": {
            "text": "█████",
            "gravity": "NORTH_WEST",
            "size": 40,
            "color": "#ffff00",
            "opacity": 1,
            "margin": 0,
        }
    }
    image = (await result_of(client, encode(ground, "PNG"), [text])).convert("RGB")
    assert similarity(image.crop((5, 5, 60, 30)), Image.new("RGB", (55, 25), (255, 255, 0))) > 0.9
    assert (
        similarity(image.crop((200, 50, 300, 100)), Image.new("RGB", (100, 50), (0, 0, 80))) > 0.99
    )


async def test_trim_cuts_the_border(client: Client) -> None:
    framed = Image.new("RGB", (120, 90), (255, 255, 255))
    framed.paste((30, 120, 30), (20, 30, 80, 70))
    image = await result_of(client, encode(framed, "PNG"), [{"trim": {}}])
    assert image.size == (60, 40)


async def test_metadata_copyright_keeps_the_credit_and_drops_the_location(client: Client) -> None:
    exif = Image.Exif()
    exif[0x013B], exif[0x8298] = "Ada", "(c) Ada 2026"
    exif.get_ifd(0x8825)[1] = "N"
    photo = io.BytesIO()
    Image.new("RGB", (32, 32), (90, 120, 150)).save(photo, "JPEG", exif=exif.tobytes())
    kept = await result_of(client, photo.getvalue(), [{"metadata": {"keep": "COPYRIGHT"}}])
    assert dict(kept.getexif()) == {0x013B: "Ada", 0x8298: "(c) Ada 2026"}
    stripped = await result_of(client, photo.getvalue(), [{"grayscale": True}])
    assert len(stripped.getexif()) == 0


async def test_a_direct_upload_cannot_overlay_another_users_job(
    client: Client, other_client: Client
) -> None:
    theirs = await other_client.submit(
        encode(Image.new("RGB", (8, 8)), "PNG"), [{"grayscale": True}]
    )
    assert (await other_client.watch(theirs["id"]))[-1]["status"] == "SUCCEEDED"
    request = """mutation($ops: [OperationInput!]!) {
      requestUpload(filename: "a.png", contentType: "image/png", operations: $ops) { url }
    }"""
    with pytest.raises(GraphQLErrors) as caught:
        await client.execute(request, {"ops": [{"overlay": {"image": theirs["id"]}}]})
    assert caught.value.codes == ["NOT_FOUND"]
