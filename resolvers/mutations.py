"""Mutation resolvers: accounts, job submission, cancel and retry."""

from __future__ import annotations

import strawberry
from starlette.datastructures import UploadFile
from strawberry.file_uploads import Upload

from gql.context import Info
from gql.inputs import OperationInput, SrcsetInput, VariantInput, asked_spec
from gql.types import AuthPayload, FormField, Job, UploadTicket, User
from imgflow.accounts import registration as accounts
from imgflow.accounts.auth import Token
from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.outputs import JobSpec
from imgflow.jobs import batches, control, presets, uploads
from imgflow.jobs import records as jobs
from imgflow.models import User as UserRow


def auth_payload(user: UserRow, token: Token) -> AuthPayload:
    return AuthPayload(token=token.value, expires_at=token.expires_at, user=User.from_row(user))


async def register(info: Info, email: str, password: str) -> AuthPayload:
    context = info.context
    return auth_payload(
        *await accounts.register(context.services, email, password, context.client_address)
    )


async def login(info: Info, email: str, password: str) -> AuthPayload:
    context = info.context
    return auth_payload(
        *await accounts.login(context.services, email, password, context.client_address)
    )


async def submit_image(
    info: Info,
    file: Upload,
    operations: list[OperationInput] | None = None,
    variants: list[VariantInput] | None = None,
    srcset: SrcsetInput | None = None,
    analyze: bool = False,
    preset: str | None = None,
    idempotency_key: str | None = None,
) -> Job:
    user = await info.context.user()
    asked = asked_spec(operations, variants, srcset, analyze)
    spec = await presets.submission_spec(info.context.services, user.id, asked, preset)
    limit = info.context.services.settings.max_upload_bytes
    return await submit(info, user.id, await read_upload(file, limit), spec, idempotency_key)


async def submit_image_url(
    info: Info,
    url: str,
    operations: list[OperationInput] | None = None,
    variants: list[VariantInput] | None = None,
    srcset: SrcsetInput | None = None,
    analyze: bool = False,
    preset: str | None = None,
    idempotency_key: str | None = None,
) -> Job:
    user = await info.context.user()
    asked = asked_spec(operations, variants, srcset, analyze)
    spec = await presets.submission_spec(info.context.services, user.id, asked, preset)
    return await submit(info, user.id, jobs.SourceUrl(url), spec, idempotency_key)


async def submit(
    info: Info,
    owner_id: str,
    source: bytes | jobs.SourceUrl,
    spec: JobSpec,
    idempotency_key: str | None,
) -> Job:
    """submitImage and submitImageUrl past their source and spec: every other argument
    they share is carried from here in one `Submission`."""
    submission = jobs.Submission(spec, idempotency_key)
    return Job.from_row(await jobs.submit(info.context.services, owner_id, source, submission))


async def submit_images(
    info: Info,
    files: list[Upload],
    operations: list[OperationInput] | None = None,
    variants: list[VariantInput] | None = None,
    srcset: SrcsetInput | None = None,
    analyze: bool = False,
    preset: str | None = None,
) -> list[Job]:
    user = await info.context.user()
    services = info.context.services
    asked = asked_spec(operations, variants, srcset, analyze)
    spec = await presets.submission_spec(services, user.id, asked, preset)
    batches.check_size(len(files), services.settings.max_batch_files)
    limit = services.settings.max_upload_bytes
    data = [await read_upload(file, limit, number) for number, file in enumerate(files, 1)]
    return [Job.from_row(job) for job in await batches.submit_batch(services, user.id, data, spec)]


async def request_upload(
    info: Info,
    filename: str,
    content_type: str,
    operations: list[OperationInput] | None = None,
    variants: list[VariantInput] | None = None,
    srcset: SrcsetInput | None = None,
    analyze: bool = False,
    preset: str | None = None,
) -> UploadTicket:
    user = await info.context.user()
    services = info.context.services
    asked = asked_spec(operations, variants, srcset, analyze)
    spec: JobSpec = await presets.submission_spec(services, user.id, asked, preset)
    ticket = await uploads.request_upload(
        services, user.id, filename, content_type, spec, info.context.base_url
    )
    return UploadTicket(
        job=Job.from_row(ticket.job),
        url=ticket.form.url,
        fields=[FormField(name=k, value=v) for k, v in ticket.form.fields.items()],
        expires_at=ticket.expires_at,
    )


async def confirm_upload(info: Info, job_id: strawberry.ID) -> Job:
    user = await info.context.user()
    return Job.from_row(await uploads.confirm_upload(info.context.services, user.id, str(job_id)))


async def cancel_job(info: Info, id: strawberry.ID) -> Job:
    user = await info.context.user()
    return Job.from_row(await control.cancel(info.context.services, user.id, str(id)))


async def retry_job(info: Info, id: strawberry.ID) -> Job:
    user = await info.context.user()
    return Job.from_row(await control.retry(info.context.services, user.id, str(id)))


async def read_upload(file: object, limit: int, number: int | None = None) -> bytes:
    """The upload's bytes, refusing more than `limit` without reading them all. `number`
    names the file in a batch's refusals (counted from 1)."""
    which = "the file" if number is None else f"file {number}"
    if not isinstance(file, UploadFile):
        raise ImgflowError(ErrorCode.BAD_USER_INPUT, f"{which} must be a multipart upload")
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise ImgflowError(ErrorCode.PAYLOAD_TOO_LARGE, f"{which} is larger than {limit} bytes")
    if not data:
        raise ImgflowError(ErrorCode.EMPTY_FILE, f"{which} is empty")
    return data
