"""Presets: job specs stored under a name, submitted by that name.

A user's presets are theirs alone (another user's answers NOT_FOUND, like a missing
one). The presets file (`IMGFLOW_PRESETS_FILE`) holds shared ones, everyone's, read-only.
A shared name is reserved: `createPreset` refuses it (PRESET_EXISTS), and should the file
later gain a name a user already has, the shared preset is the one submissions get.
With `IMGFLOW_PRESETS_ONLY` the shared presets are the only work clients may ask for:
users can neither make presets (FORBIDDEN) nor run ones they made before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.outputs import JobSpec
from imgflow.imaging.specs import check_preset_name, check_preset_spec, spec_from_json, spec_to_json
from imgflow.models import Preset as PresetRow
from imgflow.services import Services

MAX_PRESETS_PER_USER = 200
"""Presets are small, but each is a row anyone signed in can make."""


@dataclass(frozen=True)
class Preset:
    name: str
    spec: JobSpec
    shared: bool
    """From the presets file: everyone's, not deletable through the API."""
    created_at: datetime | None = None


def not_found(name: str) -> ImgflowError:
    return ImgflowError(ErrorCode.NOT_FOUND, f"no preset named {name!r}")


async def create(services: Services, owner_id: str, name: str, spec: JobSpec) -> Preset:
    check_preset_name(name)
    if name in services.shared_presets:
        raise ImgflowError(ErrorCode.PRESET_EXISTS, f"{name!r} is a shared preset's name")
    settings = services.settings
    if settings.presets_only:
        raise ImgflowError(
            ErrorCode.FORBIDDEN, "this server runs its own presets only (see `presets`)"
        )
    check_preset_spec(
        spec, max_outputs=settings.max_outputs, max_operations=settings.max_operations
    )
    count_query = select(func.count()).select_from(PresetRow).where(PresetRow.owner_id == owner_id)
    async with services.sessions() as session:
        if (await session.exec(count_query)).one() >= MAX_PRESETS_PER_USER:
            raise ImgflowError(
                ErrorCode.BAD_USER_INPUT, f"at most {MAX_PRESETS_PER_USER} presets per user"
            )
        row = PresetRow(owner_id=owner_id, name=name, spec=spec_to_json(spec))
        session.add(row)
        try:
            await session.commit()
        except IntegrityError:
            raise ImgflowError(
                ErrorCode.PRESET_EXISTS, f"you already have a preset named {name!r}"
            ) from None
    return _from_row(row)


async def visible(services: Services, owner_id: str) -> list[Preset]:
    """The shared presets, then the user's own, each by name (on a presets-only server,
    the shared ones alone: the user's cannot run there)."""
    names = services.shared_presets
    shared = [Preset(name, names[name], shared=True) for name in sorted(names)]
    if services.settings.presets_only:
        return shared
    query = select(PresetRow).where(PresetRow.owner_id == owner_id).order_by(col(PresetRow.name))
    async with services.sessions() as session:
        rows = (await session.exec(query)).all()
    return [*shared, *(_from_row(row) for row in rows if row.name not in names)]


async def delete(services: Services, owner_id: str, name: str) -> Preset:
    if name in services.shared_presets:
        raise ImgflowError(
            ErrorCode.FORBIDDEN, f"{name!r} is a shared preset: it is changed in its file"
        )
    async with services.sessions() as session:
        row = await _owned(session, owner_id, name)
        if row is None:
            raise not_found(name)
        await session.delete(row)
        await session.commit()
    return _from_row(row)


async def submission_spec(
    services: Services, owner_id: str, asked: JobSpec | None, preset: str | None
) -> JobSpec:
    """The spec a submission runs: the one it spells out, or its preset's, never both.
    With `IMGFLOW_PRESETS_ONLY` it must name a preset (PRESET_REQUIRED)."""
    if preset is None:
        if services.settings.presets_only:
            raise ImgflowError(
                ErrorCode.PRESET_REQUIRED,
                "this server takes presets only: name one with `preset` (see `presets`)",
            )
        return asked if asked is not None else JobSpec()
    if asked is not None:
        code = ErrorCode.PRESET_REQUIRED if services.settings.presets_only else None
        raise ImgflowError(
            code or ErrorCode.BAD_USER_INPUT,
            "name a preset or give operations, variants, srcset and analyze: not both",
        )
    return await find(services, owner_id, preset)


async def find(services: Services, owner_id: str, name: str) -> JobSpec:
    """The spec a submission naming `name` gets: the shared preset, else the user's."""
    shared = services.shared_presets.get(name)
    if shared is not None:
        return shared
    if services.settings.presets_only:
        raise not_found(name)
    async with services.sessions() as session:
        row = await _owned(session, owner_id, name)
    if row is None:
        raise not_found(name)
    return spec_from_json(row.spec)


async def _owned(session: AsyncSession, owner_id: str, name: str) -> PresetRow | None:
    query = select(PresetRow).where(PresetRow.owner_id == owner_id, PresetRow.name == name)
    return (await session.exec(query)).one_or_none()


def _from_row(row: PresetRow) -> Preset:
    return Preset(row.name, spec_from_json(row.spec), shared=False, created_at=row.created_at)
