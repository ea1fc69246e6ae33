"""Presets as the API shows them."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gql.enums import OutputFormat
from gql.images import describe
from imgflow.imaging.operations import pipeline_to_json
from imgflow.jobs import presets


@strawberry.type(description="A named output of a preset.")
class PresetVariant:
    name: str
    operations: list[str]


@strawberry.type(
    description="A stored job spec, submitted by name: `submitImage(file, preset: ...)`."
)
class Preset:
    name: str
    shared: bool = strawberry.field(
        description="From the server's presets file: everyone's, read-only. Otherwise yours."
    )
    operations: list[str] = strawberry.field(description="The common prefix, one line a step.")
    variants: list[PresetVariant]
    srcset_widths: list[int] = strawberry.field(description="The srcset's widths, if any.")
    srcset_format: OutputFormat | None = strawberry.field(
        description="The srcset's format, if set."
    )
    analyze: bool
    created_at: datetime | None = strawberry.field(description="Null for shared presets.")

    @classmethod
    def from_preset(cls, preset: presets.Preset) -> Preset:
        spec = preset.spec
        srcset = spec.srcset
        return cls(
            name=preset.name,
            shared=preset.shared,
            operations=[describe(step) for step in pipeline_to_json(spec.operations)],
            variants=[
                PresetVariant(
                    name=v.name,
                    operations=[describe(step) for step in pipeline_to_json(v.operations)],
                )
                for v in spec.variants
            ],
            srcset_widths=list(srcset.widths) if srcset else [],
            srcset_format=srcset.format if srcset else None,
            analyze=spec.analyze,
            created_at=preset.created_at,
        )
