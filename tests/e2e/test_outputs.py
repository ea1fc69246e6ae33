"""One upload, many outputs, end to end on both backend mixes: a real `imgflow serve`,
variants and a srcset through a real multipart `submitImage`, progress followed over a
real WebSocket, and every output's pixels judged against a direct render of its whole
pipeline (the same steps submitted as a plain single-output job)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.client import OUTPUT_FIELDS, Client, GraphQLErrors
from tests.conftest import new_user, start_server, stop_server
from tests.imaging import BLUE, RED, colour_at, near, open_bytes, png_with_size, similarity
from tests.imaging import to_bytes as encode

WATCH_TIMEOUT = 60.0
PREFIX = [{"crop": {"left": 20, "top": 10, "width": 600, "height": 450}}]
VARIANTS = [
    {
        "name": "thumb",
        "operations": [
            {"resize": {"width": 120, "height": 120}},
            {"convert": {"format": "WEBP", "quality": 90}},
        ],
    },
    {"name": "mono", "operations": [{"grayscale": True}, {"rotate": {"degrees": 90}}]},
]
SRCSET = {"widths": [150, 300, 1000], "format": "JPEG", "quality": 90}


def scene(width: int = 640, height: int = 480) -> Image.Image:
    """A picture with smooth gradients and sharp shapes, so a wrong resize, crop or
    rotation shows in SSIM, and known colours at known places."""
    x = np.linspace(0, 255, width, dtype=np.float32)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    rgb = np.stack(
        [np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width)), (x + y) / 2],
        axis=2,
    )
    image = Image.fromarray(rgb.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 30, 240, 200), fill=RED)
    draw.ellipse((380, 250, 600, 440), fill=BLUE)
    return image


async def finished(client: Client, job_id: str) -> dict[str, Any]:
    """The job's last state, followed over `jobUpdated` until it ends."""
    query = f"subscription($id: ID!) {{ jobUpdated(id: $id) {{ {OUTPUT_FIELDS} }} }}"
    async with client.subscription(query, {"id": job_id}) as events:
        updates = [event["jobUpdated"] async for event in events]
    return updates[-1]


async def download(client: Client, url: str) -> Image.Image:
    response = await client.http.get(url)
    assert response.status_code == 200
    return open_bytes(response.content)


async def direct_render(client: Client, source: bytes, steps: list[dict[str, Any]]) -> Image.Image:
    """The same pipeline as a plain job, as clients ran it before outputs existed."""
    job = await client.submit(source, steps)
    done = await asyncio.wait_for(finished(client, job["id"]), WATCH_TIMEOUT)
    assert done["status"] == "SUCCEEDED", done
    return await download(client, done["result"]["url"])


async def test_every_output_matches_a_direct_render_of_its_pipeline(client: Client) -> None:
    source = encode(scene(), "PNG")
    job = await client.submit_outputs(source, operations=PREFIX, variants=VARIANTS, srcset=SRCSET)
    assert job["status"] == "QUEUED"
    assert [o["name"] for o in job["outputs"]] == ["thumb", "mono", "w150", "w300"]
    assert job["skippedWidths"] == [1000], "wider than the 600 px prefix image: never upscaled"
    assert job["progress"] == {"done": 0, "total": 4}
    assert job["queue"] == "CONVERT", "the heaviest of its outputs' queues"

    done = await asyncio.wait_for(finished(client, job["id"]), WATCH_TIMEOUT)
    assert done["status"] == "SUCCEEDED", done
    assert done["progress"] == {"done": 4, "total": 4}
    outputs = {o["name"]: o for o in done["outputs"]}
    assert outputs["w300"]["srcsetWidth"] == 300
    assert outputs["mono"]["operations"] == [
        "crop left=20 top=10 width=600 height=450",
        "grayscale",
        "rotate degrees=90",
    ]
    expected_sizes = {
        "thumb": ("WEBP", 120, 90),
        "mono": ("PNG", 450, 600),
        "w150": ("JPEG", 150, 112),
        "w300": ("JPEG", 300, 225),
    }
    for name, (fmt, width, height) in expected_sizes.items():
        image_info = outputs[name]["image"]
        assert (image_info["format"], image_info["width"], image_info["height"]) == (
            fmt,
            width,
            height,
        )
        variant = [v for v in VARIANTS if v["name"] == name]
        own = variant[0]["operations"] if variant else _srcset_steps(int(name[1:]))
        got = await download(client, image_info["url"])
        expected = await direct_render(client, source, [*PREFIX, *own])
        assert got.format == expected.format == fmt
        assert got.size == expected.size == (width, height)
        assert similarity(got, expected) > 0.99, name

    mono = await download(client, outputs["mono"]["image"]["url"])
    r, g, b = np.asarray(mono.convert("RGB")).transpose(2, 0, 1)
    assert np.array_equal(r, g), "grayscale"
    assert np.array_equal(g, b), "grayscale"
    # Counter-clockwise 90 of the cropped scene: its red box (top left) is now bottom
    # left, in red's grey.
    grey = Image.new("RGB", (1, 1), RED).convert("L").getpixel((0, 0))
    assert near(colour_at(mono, 60, 500)[:1], (grey,), tolerance=4)
    thumb = await download(client, outputs["thumb"]["image"]["url"])
    assert near(colour_at(thumb, 20, 20), RED, tolerance=40)
    assert done["result"]["url"].split("?")[0] == outputs["thumb"]["image"]["url"].split("?")[0]


def _srcset_steps(width: int) -> list[dict[str, Any]]:
    return [{"resize": {"width": width}}, {"convert": {"format": "JPEG", "quality": 90}}]


async def test_srcset_is_the_html_attribute_of_the_stored_widths(client: Client) -> None:
    source = encode(scene(), "JPEG", quality=95)
    job = await client.submit_outputs(source, srcset={"widths": [320, 160, 4000]})
    done = await asyncio.wait_for(finished(client, job["id"]), WATCH_TIMEOUT)
    assert done["status"] == "SUCCEEDED", done
    assert done["skippedWidths"] == [4000]
    candidates = [entry.rsplit(" ", 1) for entry in done["srcset"].split(", ")]
    assert [descriptor for _, descriptor in candidates] == ["160w", "320w"]
    for url, descriptor in candidates:
        image = await download(client, url)
        assert image.format == "JPEG", "no format asked: the source's"
        assert image.size[0] == int(descriptor.removesuffix("w"))
        direct = await direct_render(client, source, [{"resize": {"width": image.size[0]}}])
        # A lone 160 px job decodes this JPEG at half scale (shrink-on-load); the srcset
        # job decodes it once, at the scale its widest output needs.
        assert similarity(image, direct) > 0.98


async def test_every_width_too_wide_leaves_the_image_at_its_own_width(client: Client) -> None:
    job = await client.submit_outputs(
        encode(scene(200, 150), "PNG"), srcset={"widths": [640, 1280], "format": "WEBP"}
    )
    assert [o["name"] for o in job["outputs"]] == ["w200"]
    assert job["skippedWidths"] == [640, 1280]
    done = await asyncio.wait_for(finished(client, job["id"]), WATCH_TIMEOUT)
    image = await download(client, done["outputs"][0]["image"]["url"])
    assert (image.format, image.size) == ("WEBP", (200, 150))
    assert done["srcset"].endswith(" 200w")


async def test_a_job_without_variants_has_one_default_output(client: Client) -> None:
    job = await client.submit(encode(scene(), "PNG"), [{"resize": {"width": 64}}])
    done = await asyncio.wait_for(finished(client, job["id"]), WATCH_TIMEOUT)
    assert done["status"] == "SUCCEEDED"
    assert [o["name"] for o in done["outputs"]] == ["default"]
    assert done["outputs"][0]["operations"] == ["resize width=64"]
    assert done["outputs"][0]["image"]["url"].split("?")[0] == done["result"]["url"].split("?")[0]
    assert done["progress"] == {"done": 1, "total": 1}
    assert done["srcset"] is None
    assert done["skippedWidths"] == []


async def test_progress_shows_each_output_as_it_is_stored(client: Client) -> None:
    """Subscribed to all of the user's jobs before submitting (a first job proves the
    subscription is live), every change of the variant job arrives: one event per
    output stored, each showing one more output with its image."""
    query = f"subscription {{ jobsUpdated {{ {OUTPUT_FIELDS} }} }}"
    variants = [
        {"name": f"v{n}", "operations": [{"resize": {"width": 300 - 50 * n}}]} for n in range(4)
    ]
    async with client.subscription(query) as events:
        probe = await client.submit(
            encode(scene(32, 24), "PNG"), [{"flip": {"direction": "VERTICAL"}}]
        )
        async for event in events:
            if event["jobsUpdated"]["id"] == probe["id"]:
                break
        job = await client.submit_outputs(encode(scene(), "PNG"), variants=variants)
        seen: list[dict[str, Any]] = []
        async with asyncio.timeout(WATCH_TIMEOUT):
            async for event in events:
                update = event["jobsUpdated"]
                if update["id"] == job["id"]:
                    seen.append(update)
                    if update["status"] in ("SUCCEEDED", "FAILED"):
                        break
    assert [u["status"] for u in seen] == ["QUEUED", "PROCESSING", *["PROCESSING"] * 3, "SUCCEEDED"]
    assert [u["progress"]["done"] for u in seen] == [0, 0, 1, 2, 3, 4]
    for update in seen:
        stored = [o["name"] for o in update["outputs"] if o["image"] is not None]
        assert stored == [f"v{n}" for n in range(update["progress"]["done"])]


@pytest.mark.parametrize(
    ("arguments", "code", "words"),
    [
        ({"variants": [{"name": "Big Thumb", "operations": []}]}, "BAD_USER_INPUT", "must match"),
        (
            {"variants": [{"name": "w320"}], "srcset": {"widths": [320]}},
            "BAD_USER_INPUT",
            "unique",
        ),
        ({"variants": [{"name": f"v{n}"} for n in range(21)]}, "TOO_MANY_OUTPUTS", "at most 20"),
        (
            {"variants": [{"name": "a"}], "srcset": {"widths": list(range(100, 2100, 100))}},
            "TOO_MANY_OUTPUTS",
            "got 21",
        ),
        ({"srcset": {"widths": [0]}}, "BAD_USER_INPUT", "between 1 and"),
        ({"srcset": {"widths": [320, 320]}}, "BAD_USER_INPUT", "repeat"),
        ({"srcset": {"widths": [320], "quality": 80}}, "BAD_USER_INPUT", "needs srcset.format"),
        ({"srcset": {"widths": []}}, "BAD_USER_INPUT", "at least one width"),
        ({"operations": []}, "BAD_USER_INPUT", "at least one operation"),
        (
            {
                "operations": [{"crop": {"left": 0, "top": 0, "width": 900, "height": 10}}],
                "variants": [{"name": "a"}],
            },
            "INVALID_OPERATION",
            "does not fit",
        ),
    ],
)
async def test_bad_outputs_are_refused_and_leave_nothing(
    client: Client, arguments: dict[str, Any], code: str, words: str
) -> None:
    with pytest.raises(GraphQLErrors) as refused:
        await client.submit_outputs(encode(scene(), "PNG"), **arguments)
    assert refused.value.codes == [code]
    assert words in refused.value.errors[0]["message"]
    assert await _job_count(client) == 0


async def test_the_whole_job_is_planned_against_the_pixel_limit(client: Client) -> None:
    """Each 25 MP output alone fits the limits; five together (125 MP) are over the
    job's budget of 100 MP: refused from the header, before any decode."""
    variants = [
        {"name": f"big{n}", "operations": [{"forceResize": {"width": 5000, "height": 5000}}]}
        for n in range(5)
    ]
    source = png_with_size(5000, 5000)
    with pytest.raises(GraphQLErrors) as refused:
        await client.submit_outputs(source, variants=variants)
    assert refused.value.codes == ["IMAGE_TOO_LARGE"]
    assert "5 outputs" in refused.value.errors[0]["message"]
    job = await client.submit_outputs(source, variants=variants[:3])
    assert job["progress"]["total"] == 3
    assert await _job_count(client) == 1


async def _job_count(client: Client) -> int:
    data = await client.execute("{ jobs(first: 50) { edges { node { id } } } }")
    return len(data["jobs"]["edges"])


async def test_a_rerun_after_an_output_was_stored_does_not_make_it_twice(
    tmp_path: Path, backend: dict[str, str]
) -> None:
    """The worker fails right after recording the first output (a real ConnectionError
    at a fault point); the retry renders only the outputs still missing, and the job ends
    with each output once, all of them intact."""
    env = {
        **backend,
        "IMGFLOW_RETRY_BASE_SECONDS": "0.1",
        "IMGFLOW_NAMESPACE": f"outputs-{uuid.uuid4().hex[:8]}",
        "IMGFLOW_FAULT_INJECTION": "output_stored:1",
    }
    server = start_server(tmp_path, env)
    try:
        client = await new_user(server.base_url)
        source = encode(scene(), "PNG")
        job = await client.submit_outputs(source, variants=VARIANTS, srcset=SRCSET)
        done = await asyncio.wait_for(finished(client, job["id"]), WATCH_TIMEOUT)
        assert done["status"] == "SUCCEEDED", done
        assert done["attempts"] == 2
        names = [o["name"] for o in done["outputs"]]
        assert names == ["thumb", "mono", "w150", "w300"]
        for output in done["outputs"]:
            image = await download(client, output["image"]["url"])
            assert image.size == (output["image"]["width"], output["image"]["height"])
        await client.close()
    finally:
        stop_server(server)
    assert "Traceback" not in server.log()
    assert server.log().count("injected fault at output_stored") == 1


REQUEST_OUTPUTS = """
mutation($variants: [VariantInput!], $srcset: SrcsetInput) {
  requestUpload(filename: "scene.png", contentType: "image/png", variants: $variants,
                srcset: $srcset) {
    job { id status skippedWidths progress { done total } outputs { name } }
    url fields { name value }
  }
}
"""


async def test_a_direct_upload_takes_variants_and_a_srcset(client: Client) -> None:
    """The widths are fitted once the file has arrived: before, every width is planned."""
    variables = {
        "variants": [{"name": "mono", "operations": [{"grayscale": True}]}],
        "srcset": {"widths": [100, 200, 5000]},
    }
    ticket = (await client.execute(REQUEST_OUTPUTS, variables))["requestUpload"]
    planned = ticket["job"]
    assert [o["name"] for o in planned["outputs"]] == ["mono", "w100", "w200", "w5000"]
    assert planned["skippedWidths"] == []
    fields = {f["name"]: f["value"] for f in ticket["fields"]}
    source = encode(scene(400, 300), "PNG")
    posted = await client.http.post(ticket["url"], data=fields, files={"file": ("x", source)})
    assert posted.status_code in (200, 201, 204)
    confirm = "mutation($id: ID!) { confirmUpload(jobId: $id) { id status skippedWidths } }"
    accepted = (await client.execute(confirm, {"id": planned["id"]}))["confirmUpload"]
    assert accepted["skippedWidths"] == [5000]
    done = await asyncio.wait_for(finished(client, planned["id"]), WATCH_TIMEOUT)
    assert done["status"] == "SUCCEEDED", done
    sizes = {o["name"]: (o["image"]["width"], o["image"]["height"]) for o in done["outputs"]}
    assert sizes == {"mono": (400, 300), "w100": (100, 75), "w200": (200, 150)}
    direct = await direct_render(client, source, [{"resize": {"width": 200}}])
    got = await download(
        client, next(o for o in done["outputs"] if o["name"] == "w200")["image"]["url"]
    )
    assert similarity(got, direct) > 0.99
