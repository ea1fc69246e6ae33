"""Job specs written down: the stored JSON round trip and the presets file."""

from __future__ import annotations

from pathlib import Path

import pytest

from imgflow.errors import ImgflowError
from imgflow.imaging.formats import ImageFormat
from imgflow.imaging.operations import Convert, ForceResize, Grayscale, Resize
from imgflow.imaging.outputs import JobSpec, Srcset, Variant
from imgflow.imaging.specs import load_presets_file, spec_from_json, spec_to_json

LIMITS = {"max_outputs": 20, "max_operations": 20}
CARDS = JobSpec(
    operations=(Resize(width=800), Grayscale()),
    variants=(Variant("thumb", (ForceResize(100, 100), Convert(ImageFormat.WEBP, 70))),),
    srcset=Srcset((320, 640), ImageFormat.AVIF, 50),
    analyze=True,
)


def test_a_stored_spec_reads_back_the_same() -> None:
    assert spec_from_json(spec_to_json(CARDS)) == CARDS
    assert spec_from_json(spec_to_json(JobSpec(analyze=True))) == JobSpec(analyze=True)


YAML = """
presets:
  cards:
    operations:
      - resize: {width: 800}
      - grayscale: true
    variants:
      - name: thumb
        operations:
          - forceResize: {width: 100, height: 100}
          - convert: {format: WEBP, quality: 70}
    srcset: {widths: [320, 640], format: AVIF, quality: 50}
    analyze: true
  info:
    analyze: true
"""
JSON = """{"presets": {"cards": {"operations": [{"resize": {"width": 800}}, {"grayscale": true}],
  "variants": [{"name": "thumb", "operations": [{"forceResize": {"width": 100, "height": 100}},
  {"convert": {"format": "WEBP", "quality": 70}}]}],
  "srcset": {"widths": [320, 640], "format": "AVIF", "quality": 50}, "analyze": true},
  "info": {"analyze": true}}}"""


@pytest.mark.parametrize(("name", "text"), [("presets.yaml", YAML), ("presets.json", JSON)])
def test_the_presets_file_in_yaml_or_json(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert load_presets_file(path, **LIMITS) == {"cards": CARDS, "info": JobSpec(analyze=True)}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("presets: [cards]", "expected a top-level `presets:` mapping"),
        ("presets:\n  Cards: {analyze: true}", "preset name 'Cards' must match"),
        ("presets:\n  idle: {analyze: false}", "the pipeline needs at least one operation"),
        ("presets:\n  x: {operations: [{spin: {degrees: 3}}]}", "unknown operation 'spin'"),
        ("presets:\n  x: {operations: [{resize: {width: 8}, grayscale: true}]}", "exactly one key"),
        ("presets:\n  x: {operations: [{grayscale: false}]}", "grayscale must be true"),
        ("presets:\n  x: {analyze: yes please}", "analyze must be true or false"),
        ("presets:\n  x: {analyse: true}", "unknown preset keys: analyse"),
        ("presets:\n  x: {srcset: {widths: [10, 10]}}", "must not repeat a width"),
        (
            "presets: {x: {operations: [{convert: {format: PDF}}]}}",
            "convert.format: unknown value 'PDF'",
        ),
        ("presets: {x: [", "cannot be parsed"),
    ],
)
def test_a_bad_presets_file_says_what_is_wrong(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "presets.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=reason) as caught:
        load_presets_file(path, **LIMITS)
    assert not isinstance(caught.value, ImgflowError)


def test_the_files_presets_keep_the_servers_limits(tmp_path: Path) -> None:
    path = tmp_path / "presets.yaml"
    path.write_text("presets:\n  ladder: {srcset: {widths: [100, 200, 300]}}")
    with pytest.raises(ValueError, match="at most 2 outputs"):
        load_presets_file(path, max_outputs=2, max_operations=20)
