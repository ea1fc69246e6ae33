"""The operation registry: every operation, declared once, reaches every surface (the
GraphQL input, JSON on the job row, the live page, the command-line client)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from imgflow.cli import build_parser
from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.operations import operation_from_dict, operation_to_dict
from imgflow.imaging.registry import STEPS, step_from_dict
from imgflow.imaging.step import Step, graphql_name, snake_name
from imgflow.web.live.steps import with_steps
from resolvers.schema import schema

EXAMPLES: dict[str, dict[str, object]] = {
    "rotate": {"degrees": 30},
    "resize": {"width": 80},
    "force_resize": {"width": 8, "height": 9},
    "convert": {"format": "PNG", "quality": 70},
    "crop": {"left": 1, "top": 2, "width": 3, "height": 4},
    "flip": {"direction": "VERTICAL"},
    "grayscale": {},
    "blur": {"radius": 1.5},
    "sharpen": {"radius": 1.0, "percent": 90, "threshold": 2},
    "fill": {"width": 30, "height": 20, "gravity": "FOCUS", "focusX": 0.25, "focusY": 1.0},
    "pad": {"width": 30, "height": 20, "background": "#102030"},
    "trim": {"threshold": 5},
    "adjust": {"brightness": 1.5, "gamma": 0.8},
    "text": {"text": "hi", "gravity": "NORTH", "size": 12},
    "overlay": {"image": "0f3c", "gravity": "WEST", "opacity": 0.5},
    "metadata": {"keep": "COPYRIGHT"},
}


def example(cls: type[Step]) -> Step:
    values = {snake_name(key): value for key, value in EXAMPLES[cls.name].items()}
    return step_from_dict({"op": cls.name, **values})


def test_every_operation_has_an_example() -> None:
    assert {cls.name for cls in STEPS} <= set(EXAMPLES)


@pytest.mark.parametrize("cls", [cls for cls in STEPS if cls.name in EXAMPLES], ids=str)
def test_json_round_trip_gives_the_same_step(cls: type[Step]) -> None:
    step = example(cls)
    assert operation_from_dict(operation_to_dict(step)) == step


def test_every_operation_is_an_operation_input_member_in_rank_order() -> None:
    sdl = schema.as_str()
    block = re.search(r"input OperationInput @oneOf \{(.*?)\}", sdl, re.DOTALL)
    assert block is not None
    members = re.findall(r"^\s+(\w+):", block.group(1), re.MULTILINE)
    assert members == [graphql_name(cls.name) for cls in STEPS]


def test_every_operation_has_a_live_page_step_and_a_menu_entry() -> None:
    page = with_steps("<!-- step options -->\n<!-- step templates -->")
    for cls in STEPS:
        kind = graphql_name(cls.name)
        assert f'<option value="{kind}">' in page
        assert f'<template id="step-{kind}">' in page
        for field in dataclasses.fields(cls):
            assert f'name="{graphql_name(field.name)}"' in page.split(f'id="step-{kind}"')[1]


def test_every_operation_has_a_client_flag(tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"not read by the parser")
    for cls in STEPS:
        flag = "--" + cls.name.replace("_", "-")
        values = EXAMPLES.get(cls.name, {})
        text = ",".join(f"{key}={value}" for key, value in values.items())
        args = [flag] if not dataclasses.fields(cls) else [flag, text]
        if cls.flag and cls.flag.parse:  # its own form; the default form is tested below
            continue
        parsed = build_parser().parse_args(["submit", str(photo), *args]).operations
        assert parsed == [{graphql_name(cls.name): values or True}]


def test_out_of_range_values_name_the_graphql_field() -> None:
    with pytest.raises(ImgflowError) as error:
        step_from_dict({"op": "force_resize", "width": 0, "height": 10})
    assert error.value.code is ErrorCode.BAD_USER_INPUT
    assert "forceResize.width must be between 1 and 65535" in error.value.message


def test_an_unknown_operation_or_value_is_bad_input() -> None:
    for data in ({"op": "melt"}, {"op": "flip", "direction": "DIAGONAL"}, {"op": "rotate"}):
        with pytest.raises(ImgflowError) as error:
            step_from_dict(data)
        assert error.value.code is ErrorCode.BAD_USER_INPUT


def test_a_flag_whose_fields_all_have_defaults_may_stand_alone(tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"not read by the parser")
    flags = ["--trim", "--adjust", "gamma=2", "--trim", "3", "--fill", "40,30,faces"]
    parsed = build_parser().parse_args(["submit", str(photo), *flags]).operations
    assert parsed == [
        {"trim": {}},
        {"adjust": {"gamma": 2.0}},
        {"trim": {"threshold": 3}},
        {"fill": {"width": 40, "height": 30, "gravity": "FACES"}},
    ]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--fill", "40"], "missing height"),
        (["--fill", "40,30,sideways"], "gravity must be one of center"),
        (["--adjust", "hue=2"], "unknown field 'hue'"),
        (["--pad", "a,b"], "width must be a whole number"),
    ],
)
def test_bad_default_form_flags_are_usage_errors(
    tmp_path: Path, flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"not read by the parser")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["submit", str(photo), *flags])
    assert message in capsys.readouterr().err
