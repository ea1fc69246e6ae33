"""Presets end to end on both backend mixes: a user's own (made, listed, used, deleted,
invisible to others), and a server's shared presets file in presets-only mode."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.client import Client, GraphQLErrors
from tests.conftest import Server, new_user, start_server, stop_server
from tests.e2e.test_analysis import FINAL, corpus_file
from tests.imaging import BLUE, GREEN, RED, YELLOW, colour_at, near, open_bytes, quadrants
from tests.imaging import to_bytes as encode

PNG = encode(quadrants(80, 60), "PNG")
CREATE = """
mutation($name: String!, $operations: [OperationInput!], $variants: [VariantInput!],
         $srcset: SrcsetInput, $analyze: Boolean!) {
  createPreset(name: $name, operations: $operations, variants: $variants, srcset: $srcset,
               analyze: $analyze) {
    name shared operations variants { name operations } srcsetWidths srcsetFormat analyze
  }
}"""
PRESETS = "{ presets { name shared operations analyze } }"
DELETE = "mutation($name: String!) { deletePreset(name: $name) { name } }"
SUBMIT = """
mutation($file: Upload!, $operations: [OperationInput!], $preset: String) {
  submitImage(file: $file, operations: $operations, preset: $preset) { id }
}"""
JOBS = "{ jobs(first: 100) { edges { node { id } } } }"
CARDS = {
    "name": "cards",
    "operations": [{"crop": {"left": 0, "top": 0, "width": 80, "height": 60}}],
    "variants": [{"name": "thumb", "operations": [{"resize": {"width": 40}}]}],
    "srcset": {"widths": [20, 60], "format": "WEBP"},
    "analyze": True,
}
PRESETS_FILE = """
presets:
  info:
    analyze: true
  cards:
    operations:
      - resize: {width: 40}
      - convert: {format: WEBP, quality: 80}
"""


async def submit(client: Client, data: bytes, **arguments: Any) -> dict[str, Any]:
    body = await client.multipart(SUBMIT, {"file": None, **arguments}, {"file": data})
    return body


async def finished(client: Client, job_id: str) -> dict[str, Any]:
    async with client.subscription(
        "subscription($id: ID!) { jobUpdated(id: $id) { status } }", {"id": job_id}
    ) as events:
        [event async for event in events]
    return dict((await client.execute(FINAL, {"id": job_id}))["job"])


async def job_count(client: Client) -> int:
    return len((await client.execute(JOBS))["jobs"]["edges"])


def codes(body: dict[str, Any]) -> list[str]:
    return [str(e["extensions"]["code"]) for e in body.get("errors") or []]


async def test_a_preset_is_made_listed_and_used(client: Client) -> None:
    made = (await client.execute(CREATE, CARDS))["createPreset"]
    assert made == {
        "name": "cards",
        "shared": False,
        "operations": ["crop left=0 top=0 width=80 height=60"],
        "variants": [{"name": "thumb", "operations": ["resize width=40"]}],
        "srcsetWidths": [20, 60],
        "srcsetFormat": "WEBP",
        "analyze": True,
    }
    listed = (await client.execute(PRESETS))["presets"]
    assert [(p["name"], p["shared"]) for p in listed] == [("cards", False)]

    body = await submit(client, PNG, preset="cards")
    assert not body.get("errors"), body
    job = await finished(client, body["data"]["submitImage"]["id"])
    assert job["status"] == "SUCCEEDED", job["error"]
    assert [o["name"] for o in job["outputs"]] == ["thumb", "w20", "w60"]
    assert job["analysis"]["frames"] == 1
    thumb = open_bytes(await download(client, job["outputs"][0]["image"]["url"]))
    assert thumb.size == (40, 30)
    for x, y, colour in [(5, 5, RED), (35, 5, GREEN), (5, 25, BLUE), (35, 25, YELLOW)]:
        assert near(colour_at(thumb, x, y), colour), (x, y)
    widest = open_bytes(await download(client, job["outputs"][2]["image"]["url"]))
    assert (widest.format, widest.size) == ("WEBP", (60, 45))


async def download(client: Client, url: str) -> bytes:
    response = await client.http.get(url)
    response.raise_for_status()
    return response.content


async def test_another_users_preset_is_not_found(client: Client, other_client: Client) -> None:
    await client.execute(CREATE, {**CARDS, "name": "mine"})
    assert (await other_client.execute(PRESETS))["presets"] == []
    assert codes(await submit(other_client, PNG, preset="mine")) == ["NOT_FOUND"]
    with pytest.raises(GraphQLErrors) as caught:
        await other_client.execute(DELETE, {"name": "mine"})
    assert caught.value.codes == ["NOT_FOUND"]
    assert await job_count(other_client) == 0
    assert [p["name"] for p in (await client.execute(PRESETS))["presets"]] == ["mine"]


async def test_deleted_preset_is_gone(client: Client) -> None:
    await client.execute(CREATE, {**CARDS, "name": "gone"})
    assert (await client.execute(DELETE, {"name": "gone"}))["deletePreset"]["name"] == "gone"
    assert codes(await submit(client, PNG, preset="gone")) == ["NOT_FOUND"]
    assert (await client.execute(PRESETS))["presets"] == []


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ({**CARDS, "name": "Cards!"}, "BAD_USER_INPUT"),
        ({"name": "idle", "analyze": False}, "BAD_USER_INPUT"),  # asks for nothing
        ({**CARDS, "srcset": {"widths": [0]}}, "BAD_USER_INPUT"),
        ({**CARDS, "variants": [{"name": "a"}] * 2}, "BAD_USER_INPUT"),
    ],
)
async def test_bad_presets_are_refused(
    client: Client, arguments: dict[str, Any], code: str
) -> None:
    with pytest.raises(GraphQLErrors) as caught:
        await client.execute(CREATE, arguments)
    assert caught.value.codes == [code]
    assert (await client.execute(PRESETS))["presets"] == []


async def test_a_name_is_used_once(client: Client) -> None:
    await client.execute(CREATE, CARDS)
    with pytest.raises(GraphQLErrors) as caught:
        await client.execute(CREATE, {**CARDS, "analyze": False})
    assert caught.value.codes == ["PRESET_EXISTS"]
    assert [p["analyze"] for p in (await client.execute(PRESETS))["presets"]] == [True]


async def test_a_preset_and_a_spec_together_are_refused(client: Client) -> None:
    await client.execute(CREATE, CARDS)
    body = await submit(client, PNG, preset="cards", operations=[{"rotate": {"degrees": 90}}])
    assert codes(body) == ["BAD_USER_INPUT"]
    assert await job_count(client) == 0


# --- A server with a presets file, in presets-only mode, showing GPS ------------------


@pytest.fixture(scope="module")
def shared_server(
    backend: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("presets")
    presets = workdir / "presets.yaml"
    presets.write_text(PRESETS_FILE)
    env = {
        **backend,
        "IMGFLOW_PRESETS_FILE": str(presets),
        "IMGFLOW_PRESETS_ONLY": "true",
        "IMGFLOW_EXPOSE_GPS": "true",
    }
    server = start_server(workdir, env)
    yield server
    stop_server(server)
    assert "Traceback" not in server.log(), server.tracebacks()


@pytest.fixture
async def user(shared_server: Server) -> AsyncIterator[Client]:
    client = await new_user(shared_server.base_url)
    yield client
    await client.close()


async def test_presets_only_refuses_a_spec(user: Client) -> None:
    assert codes(await submit(user, PNG, operations=[{"rotate": {"degrees": 90}}])) == [
        "PRESET_REQUIRED"
    ]
    assert codes(await submit(user, PNG)) == ["PRESET_REQUIRED"]
    assert await job_count(user) == 0


async def test_shared_presets_are_everyones(user: Client) -> None:
    listed = (await user.execute(PRESETS))["presets"]
    assert [(p["name"], p["shared"]) for p in listed] == [("cards", True), ("info", True)]
    body = await submit(user, PNG, preset="cards")
    job = await finished(user, body["data"]["submitImage"]["id"])
    assert job["status"] == "SUCCEEDED", job["error"]
    assert (job["result"]["format"], job["result"]["width"]) == ("WEBP", 40)


async def test_a_shared_name_is_reserved(user: Client) -> None:
    with pytest.raises(GraphQLErrors) as caught:
        await user.execute(CREATE, CARDS)
    assert caught.value.codes == ["PRESET_EXISTS"]
    with pytest.raises(GraphQLErrors) as caught:
        await user.execute(DELETE, {"name": "info"})
    assert caught.value.codes == ["FORBIDDEN"]
    with pytest.raises(GraphQLErrors) as caught:  # no arbitrary work, even by a preset
        await user.execute(CREATE, {**CARDS, "name": "own"})
    assert caught.value.codes == ["FORBIDDEN"]


async def test_gps_is_shown_when_the_server_allows_it(user: Client) -> None:
    photo = corpus_file("jpeg/pixel8_gainmap_mpf_PXL_20240119.jpg").read_bytes()
    body = await submit(user, photo, preset="info")
    job = await finished(user, body["data"]["submitImage"]["id"])
    exif = {entry["tag"]: entry["value"] for entry in job["analysis"]["exif"]}
    assert exif["GPSLatitude"] == "38.402361"  # 38° 24' 8.5" N
    assert exif["GPSLongitude"] == "-122.628072"  # 122° 37' 41.06" W
    assert exif["GPSAltitude"] == "149.2"
    assert job["outputs"] == []


def test_a_bad_presets_file_stops_the_server(tmp_path: Path, backend: dict[str, str]) -> None:
    presets = tmp_path / "presets.yaml"
    presets.write_text("presets:\n  cards:\n    operations: [{resize: {width: 0}}]\n")
    with pytest.raises(RuntimeError, match=r"preset 'cards': resize\.width must be between"):
        start_server(tmp_path, {**backend, "IMGFLOW_PRESETS_FILE": str(presets)})
