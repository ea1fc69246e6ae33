"""The live page's step menu and step forms, written from the operation registry.

Each operation becomes one `<option>` in the menu and one `<template>` that
live/static/operations.js clones; every input is named after the GraphQL field and
carries its kind (`data-type`), so the script reads any step back into an
`OperationInput` without knowing the operation. Written once at start-up (the page is
static), escaped, never built from user data.
"""

from __future__ import annotations

import dataclasses
from enum import Enum
from html import escape
from typing import Any

from imgflow.imaging.registry import STEPS
from imgflow.imaging.step import Param, Step, enum_type, field_types, graphql_name, plain_type

MENU_MARK = "<!-- step options -->"
TEMPLATES_MARK = "<!-- step templates -->"


def with_steps(page: str) -> str:
    """`page` with the registry's menu and templates in place of their marks."""
    options = "\n".join(
        f'<option value="{escape(graphql_name(cls.name))}">{escape(cls.label)}</option>'
        for cls in STEPS
    )
    templates = "\n".join(step_template(cls) for cls in STEPS)
    return page.replace(MENU_MARK, options).replace(TEMPLATES_MARK, templates)


def step_template(cls: type[Step]) -> str:
    kind = escape(graphql_name(cls.name))
    inputs = "\n".join(_field_html(cls, field) for field in dataclasses.fields(cls))
    fields_html = f'<span class="step-fields">\n{inputs}\n</span>\n' if inputs else ""
    return (
        f'<template id="step-{kind}">\n<li class="step" data-kind="{kind}">\n'
        f'<span class="step-name">{escape(cls.label)}</span>\n{fields_html}'
        '<button type="button" class="remove">Remove</button>\n</li>\n</template>'
    )


def field_label(name: str) -> str:
    """`focus_x` -> `Focus x`."""
    return name.replace("_", " ").capitalize()


def _field_html(cls: type[Step], field: dataclasses.Field[Any]) -> str:
    name = escape(graphql_name(field.name))
    hint = field_types(cls)[field.name]
    bounds: Param = field.metadata.get("param") or Param()
    start = bounds.initial if bounds.initial is not None else _default(field)
    enum = enum_type(hint)
    if enum is not None:
        control = _choice_html(name, enum, start)
    else:
        control = _input_html(name, plain_type(hint), bounds, start, _required(field))
    title = f' title="{escape(bounds.doc)}"' if bounds.doc else ""
    return f"<label{title}>{escape(field_label(field.name))} {control}</label>"


def _default(field: dataclasses.Field[Any]) -> Any:
    return None if field.default is dataclasses.MISSING else field.default


def _required(field: dataclasses.Field[Any]) -> bool:
    return field.default is dataclasses.MISSING


def _choice_html(name: str, enum: type[Enum], start: Any) -> str:
    options = "".join(
        f"<option{' selected' if member == start else ''}>{escape(str(member.value))}</option>"
        for member in enum
    )
    return f'<select name="{name}" data-type="choice">{options}</select>'


def _input_html(name: str, kind: Any, bounds: Param, start: Any, required: bool) -> str:
    data_type = {int: "integer", float: "number"}.get(kind, "text")
    attributes = [f'name="{name}"', f'data-type="{data_type}"']
    if data_type == "text":
        attributes.append('type="text"')
    else:
        attributes += ['type="number"', f'step="{1 if kind is int else "any"}"']
        attributes += [f'{key}="{value:g}"' for key, value in _limits(bounds)]
    if start is not None:
        attributes.append(f'value="{escape(str(start))}"')
    if required:
        attributes.append("required")
    return f"<input {' '.join(attributes)} />"


def _limits(bounds: Param) -> list[tuple[str, float]]:
    pairs = [("min", bounds.low), ("max", bounds.high)]
    return [(key, value) for key, value in pairs if value is not None]
