"""Preset resolvers: make, list and delete stored job specs."""

from __future__ import annotations

from gql.context import Info
from gql.inputs import OperationInput, SrcsetInput, VariantInput, to_spec
from gql.presets import Preset
from imgflow.jobs import presets


async def create_preset(
    info: Info,
    name: str,
    operations: list[OperationInput] | None = None,
    variants: list[VariantInput] | None = None,
    srcset: SrcsetInput | None = None,
    analyze: bool = False,
) -> Preset:
    user = await info.context.user()
    spec = to_spec(operations or [], variants, srcset, analyze)
    return Preset.from_preset(await presets.create(info.context.services, user.id, name, spec))


async def list_presets(info: Info) -> list[Preset]:
    user = await info.context.user()
    return [Preset.from_preset(p) for p in await presets.visible(info.context.services, user.id)]


async def delete_preset(info: Info, name: str) -> Preset:
    user = await info.context.user()
    return Preset.from_preset(await presets.delete(info.context.services, user.id, name))
