"""HEIC/HEIF and JPEG XL in, JPEG XL out, `convert { format: AUTO }` and
`convert { maxBytes }`: through a real server on both backend sets, each result
downloaded and judged by its picture and its bytes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from PIL import Image
from skimage import data as samples

from tests.client import Client
from tests.corpus import corpus_dir
from tests.heif import rotated
from tests.imaging import open_bytes, quadrants, similarity, to_bytes
from tests.unit.workers.test_codec_heif import declaring
from tests.unit.workers.test_codec_jxl import size_header


def photo() -> Image.Image:
    """A real photograph that scikit-image ships, 480x360."""
    return Image.fromarray(samples.astronaut()).crop((0, 64, 512, 448)).resize((480, 360))


async def finished(
    client: Client, source: bytes, operations: list[dict[str, Any]]
) -> dict[str, Any]:
    job = await client.submit(source, operations)
    return (await asyncio.wait_for(client.watch(job["id"]), timeout=120))[-1]


async def download(client: Client, job: dict[str, Any]) -> bytes:
    assert job["status"] == "SUCCEEDED", job
    response = await client.http.get(job["result"]["url"])
    assert response.status_code == 200
    assert len(response.content) == job["result"]["bytes"]
    return response.content


@pytest.mark.skipif(corpus_dir() is None, reason="../shared/corpus is absent")
async def test_heic_is_read_upright_and_written_as_jpeg(client: Client) -> None:
    root = corpus_dir()
    assert root is not None
    plain = (root / "heif-avif" / "samplefilehub_640x426.heif").read_bytes()
    turned = rotated(plain, 1)  # the file says: show me turned a quarter counter-clockwise
    job = await finished(client, turned, [{"resize": {"width": 213}}])
    assert job["source"]["format"] == "HEIF"
    assert (job["source"]["width"], job["source"]["height"]) == (426, 640)
    assert (job["result"]["format"], job["result"]["width"], job["result"]["height"]) == (
        "JPEG",
        213,
        320,
    )
    result = open_bytes(await download(client, job))
    expected = open_bytes(plain).convert("RGB").rotate(90, expand=True).resize((213, 320))
    assert similarity(result, expected) > 0.9


async def test_jxl_out_and_back_in(client: Client) -> None:
    source = photo()
    job = await finished(client, to_bytes(source, "PNG"), [{"convert": {"format": "JXL"}}])
    assert job["result"]["format"] == "JXL"
    response = await client.http.get(job["result"]["url"])
    assert response.headers["content-type"] == "image/jxl"
    jxl = open_bytes(response.content)
    assert similarity(jxl, source) > 0.9
    again = await finished(client, response.content, [{"resize": {"width": 240}}])
    assert again["source"]["format"] == "JXL"
    assert again["result"]["format"] == "JXL"
    assert similarity(open_bytes(await download(client, again)), source.resize((240, 180))) > 0.85


async def test_jxl_bomb_is_refused_at_submission(client: Client) -> None:
    body = await client.upload_raw(size_header(60_000, 60_000), [{"rotate": {"degrees": 90}}])
    assert body["errors"][0]["extensions"]["code"] == "IMAGE_TOO_LARGE"


@pytest.mark.skipif(corpus_dir() is None, reason="../shared/corpus is absent")
@pytest.mark.parametrize(
    ("damage", "code"), [("bomb", "IMAGE_TOO_LARGE"), ("cut", "CORRUPT_IMAGE")]
)
async def test_hostile_heif_is_refused_at_submission(
    client: Client, damage: str, code: str
) -> None:
    root = corpus_dir()
    assert root is not None
    plain = (root / "heif-avif" / "samplefilehub_640x426.heif").read_bytes()
    data = declaring(plain, 20_000, 20_000) if damage == "bomb" else plain[:300]
    body = await client.upload_raw(data, [{"rotate": {"degrees": 90}}])
    assert body["errors"][0]["extensions"]["code"] == code


async def test_convert_auto_delivers_a_smaller_file_that_looks_the_same(client: Client) -> None:
    source = photo()
    png = to_bytes(source, "PNG")
    job = await finished(client, png, [{"convert": {"format": "AUTO", "quality": 70}}])
    assert job["result"]["format"] in {"WEBP", "AVIF", "JPEG"}
    delivered = await download(client, job)
    assert len(delivered) < len(png) / 5
    assert similarity(open_bytes(delivered), source) > 0.9


async def test_convert_auto_keeps_alpha(client: Client) -> None:
    source = quadrants(96, 64).convert("RGBA")
    source.putpixel((0, 0), (0, 0, 0, 0))
    job = await finished(client, to_bytes(source, "PNG"), [{"convert": {"format": "AUTO"}}])
    assert job["result"]["format"] in {"WEBP", "AVIF", "PNG"}
    result = open_bytes(await download(client, job)).convert("RGBA")
    assert result.getpixel((0, 0))[3] < 16
    assert similarity(result, source) > 0.9


@pytest.mark.parametrize("fmt", ["WEBP", "AUTO"])
async def test_max_bytes_bounds_the_file(client: Client, fmt: str) -> None:
    source = photo()
    job = await finished(
        client, to_bytes(source, "PNG"), [{"convert": {"format": fmt, "maxBytes": 9000}}]
    )
    delivered = await download(client, job)
    assert len(delivered) <= 9000
    assert similarity(open_bytes(delivered), source) > 0.8


async def test_max_bytes_that_cannot_be_met_fails_the_job_with_its_code(client: Client) -> None:
    job = await finished(
        client, to_bytes(photo(), "PNG"), [{"convert": {"format": "JPEG", "maxBytes": 200}}]
    )
    assert job["status"] == "FAILED"
    assert job["error"]["code"] == "OUTPUT_TOO_LARGE"
    assert "200 bytes" in job["error"]["message"]


@pytest.mark.parametrize("convert", [{"format": "HEIF"}, {"format": "WEBP", "maxBytes": 10}])
async def test_bad_convert_is_refused_with_a_code(client: Client, convert: dict[str, Any]) -> None:
    body = await client.upload_raw(to_bytes(quadrants(), "PNG"), [{"convert": convert}])
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
