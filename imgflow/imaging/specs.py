"""Job specs written down: the JSON a stored preset keeps, and the document form of the
presets file, which spells a spec as `submitImage`'s arguments do (camelCase fields,
one key per step: `{resize: {width: 800}}`, `{grayscale: true}`)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.formats import OutputFormat
from imgflow.imaging.operations import Operation, operation_from_dict, pipeline_from_json
from imgflow.imaging.operations import pipeline_to_json as steps_to_json
from imgflow.imaging.outputs import (
    NAME_PATTERN,
    JobSpec,
    Srcset,
    Variant,
    check_spec,
)

SPEC_KEYS = frozenset({"operations", "variants", "srcset", "analyze"})


def to_snake_case(name: str) -> str:
    """`forceResize` as the stored form names it: `force_resize`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _bad(message: str) -> ImgflowError:
    return ImgflowError(ErrorCode.BAD_USER_INPUT, message)


def spec_to_json(spec: JobSpec) -> dict[str, Any]:
    srcset = spec.srcset
    return {
        "operations": steps_to_json(spec.operations),
        "variants": [
            {"name": v.name, "operations": steps_to_json(v.operations)} for v in spec.variants
        ],
        "srcset": None
        if srcset is None
        else {
            "widths": list(srcset.widths),
            "format": srcset.format.value if srcset.format else None,
            "quality": srcset.quality,
        },
        "analyze": spec.analyze,
    }


def spec_from_json(data: Mapping[str, Any]) -> JobSpec:
    srcset = data.get("srcset")
    return JobSpec(
        operations=tuple(pipeline_from_json(data.get("operations") or [])),
        variants=tuple(
            Variant(str(v["name"]), tuple(pipeline_from_json(v.get("operations") or [])))
            for v in data.get("variants") or []
        ),
        srcset=None
        if srcset is None
        else Srcset(
            tuple(int(w) for w in srcset["widths"]),
            OutputFormat(srcset["format"]) if srcset.get("format") else None,
            srcset.get("quality"),
        ),
        analyze=bool(data.get("analyze", False)),
    )


def spec_from_document(document: object) -> JobSpec:
    """A spec as the presets file writes it; BAD_USER_INPUT saying what is wrong."""
    if not isinstance(document, Mapping):
        raise _bad("a preset is a mapping of operations, variants, srcset and analyze")
    unknown = set(document) - SPEC_KEYS
    if unknown:
        raise _bad(f"unknown preset keys: {', '.join(sorted(map(str, unknown)))}")
    srcset = document.get("srcset")
    if srcset is not None and not isinstance(srcset, Mapping):
        raise _bad("srcset is a mapping of widths, format and quality")
    try:
        return JobSpec(
            operations=_steps(document.get("operations")),
            variants=tuple(_variant(v) for v in _list(document.get("variants"), "variants")),
            srcset=None
            if srcset is None
            else Srcset(
                tuple(int(w) for w in _list(srcset.get("widths"), "srcset.widths")),
                OutputFormat(srcset["format"]) if srcset.get("format") else None,
                srcset.get("quality"),
            ),
            analyze=_flag(document.get("analyze", False)),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise _bad(f"malformed preset: {error}") from error


def _variant(document: object) -> Variant:
    if not isinstance(document, Mapping) or "name" not in document:
        raise _bad("a variant is a mapping with a name and operations")
    return Variant(str(document["name"]), _steps(document.get("operations")))


def _steps(document: object) -> tuple[Operation, ...]:
    return tuple(_step(item) for item in _list(document, "operations"))


def _step(document: object) -> Operation:
    """`{resize: {width: 800}}` as `Resize(800)`: one key, the operation's GraphQL name."""
    if not isinstance(document, Mapping) or len(document) != 1:
        raise _bad(f"a step has exactly one key, the operation: got {document!r}")
    [(name, fields)] = document.items()
    op = to_snake_case(str(name))
    if op == "grayscale":
        if fields is not True:
            raise _bad("grayscale must be true when given")
        return operation_from_dict({"op": op})
    if not isinstance(fields, Mapping):
        raise _bad(f"{name} takes a mapping of its fields")
    return operation_from_dict({"op": op, **{to_snake_case(str(k)): v for k, v in fields.items()}})


def _list(value: object, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad(f"{what} must be a list")
    return value


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise _bad("analyze must be true or false")
    return value


def check_preset_name(name: str) -> None:
    if NAME_PATTERN.fullmatch(name) is None:
        raise _bad(
            f"preset name {name!r} must match {NAME_PATTERN.pattern}: lower-case letters, "
            "digits, '_' and '-', starting with a letter or digit, at most 40"
        )


def check_preset_spec(spec: JobSpec, *, max_outputs: int, max_operations: int) -> None:
    """What `submitImage` would refuse for any source, refused when the preset is made."""
    check_spec(spec, max_outputs=max_outputs, max_operations=max_operations)


def load_presets_file(path: Path, *, max_outputs: int, max_operations: int) -> dict[str, JobSpec]:
    """The presets file: `presets: {name: spec}` in YAML, or JSON when named `.json`. A
    bad file raises ValueError naming the preset and what is wrong, so the process does
    not start with presets it cannot serve."""
    text = path.read_text(encoding="utf-8")
    try:
        document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: cannot be parsed: {error}") from None
    entries = document.get("presets") if isinstance(document, Mapping) else None
    if not isinstance(entries, Mapping):
        raise ValueError(f"{path}: expected a top-level `presets:` mapping of name to spec")
    specs = {}
    for name, body in entries.items():
        try:
            check_preset_name(str(name))
            spec = spec_from_document(body)
            check_preset_spec(spec, max_outputs=max_outputs, max_operations=max_operations)
        except ImgflowError as error:
            raise ValueError(f"{path}: preset {name!r}: {error.message}") from None
        specs[str(name)] = spec
    return specs
