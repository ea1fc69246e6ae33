"""What the command line asks of imgflow: the GraphQL documents, and jobs as typed values."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imgflow.client.api import Api, Data
from imgflow.domain import TERMINAL_STATUSES, JobStatus

JOB_FIELDS = """
id status queue attempts createdAt finishedAt operations
source { format width height bytes frames }
result { url format width height bytes frames }
outputs { name image { url format width height bytes frames } }
progress { done total }
error { code message }
analysis { blurhash dominantColors phash hasAlpha animated frames exif { tag value } }
"""
SUBMIT = f"""
mutation Submit(
  $file: Upload!, $operations: [OperationInput!], $variants: [VariantInput!],
  $srcset: SrcsetInput, $analyze: Boolean!, $preset: String, $key: String
) {{
  submitImage(
    file: $file, operations: $operations, variants: $variants, srcset: $srcset,
    analyze: $analyze, preset: $preset,
    idempotencyKey: $key
  ) {{ {JOB_FIELDS} }}
}}
"""
WATCH = f"subscription Watch($id: ID!) {{ jobUpdated(id: $id) {{ {JOB_FIELDS} }} }}"
JOB = f"query Job($id: ID!) {{ job(id: $id) {{ {JOB_FIELDS} }} }}"
JOBS = f"""
query Jobs($first: Int!, $status: JobStatus) {{
  jobs(first: $first, status: $status) {{ edges {{ node {{ {JOB_FIELDS} }} }} }}
}}
"""
SIGN_IN = """
mutation {name}($email: String!, $password: String!) {{
  {field}(email: $email, password: $password) {{ token expiresAt user {{ email }} }}
}}
"""


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    bytes: int
    frames: int
    url: str | None  # absent from the source as the CLI asks for it

    @classmethod
    def from_json(cls, data: Data) -> ImageInfo:
        return cls(
            format=str(data["format"]),
            width=int(data["width"]),
            height=int(data["height"]),
            bytes=int(data["bytes"]),
            frames=int(data["frames"]),
            url=data.get("url"),
        )


@dataclass(frozen=True)
class Produced:
    """One of a job's outputs: its name, and its image once stored."""

    name: str
    image: ImageInfo | None


@dataclass(frozen=True)
class Job:
    id: str
    status: str  # a JobStatus value, kept as text: a newer service may add states
    queue: str
    attempts: int
    created_at: str
    result: ImageInfo | None
    error_code: str | None
    error_message: str | None
    analysis: Data | None  # with --analyze, once the worker has read it
    raw: Data  # as the service sent it, for --json
    outputs: tuple[Produced, ...] = ()
    done: int = 0
    """Outputs stored so far, of `len(outputs)`."""

    @classmethod
    def from_json(cls, data: Data) -> Job:
        error = data.get("error") or {}
        result = data.get("result")
        return cls(
            id=str(data["id"]),
            status=str(data["status"]),
            queue=str(data["queue"]),
            attempts=int(data.get("attempts") or 0),
            created_at=str(data.get("createdAt") or ""),
            result=ImageInfo.from_json(result) if result else None,
            error_code=error.get("code"),
            error_message=error.get("message"),
            analysis=data.get("analysis"),
            raw=data,
            outputs=tuple(
                Produced(str(o["name"]), ImageInfo.from_json(o["image"]) if o["image"] else None)
                for o in data.get("outputs") or ()
            ),
            done=int((data.get("progress") or {}).get("done") or 0),
        )

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == JobStatus.SUCCEEDED


@dataclass(frozen=True)
class Session:
    token: str
    expires_at: str
    email: str


async def sign_in(api: Api, email: str, password: str, *, register: bool = False) -> Session:
    """`login`, or `register` a new account; the token is not kept on `api`."""
    name, field = ("Register", "register") if register else ("Login", "login")
    data = await api.execute(
        SIGN_IN.format(name=name, field=field), {"email": email, "password": password}
    )
    payload = data[field]
    return Session(str(payload["token"]), str(payload["expiresAt"]), payload["user"]["email"])


@dataclass(frozen=True)
class Request:
    """What `imgflow submit` asks for: a pipeline, outputs and/or an analysis, or a
    preset's name (then nothing else)."""

    operations: list[dict[str, Any]]
    variants: list[dict[str, Any]] | None = None
    srcset: dict[str, Any] | None = None
    analyze: bool = False
    preset: str | None = None


async def submit_image(api: Api, path: Path, request: Request, idempotency_key: str | None) -> Job:
    variables = {
        "operations": request.operations or None,  # none given: the preset's, or analysis only
        "variants": request.variants,
        "srcset": request.srcset,
        "analyze": request.analyze,
        "preset": request.preset,
        "key": idempotency_key,
    }
    data = await api.upload(SUBMIT, variables, "file", path)
    return Job.from_json(data["submitImage"])


async def job(api: Api, job_id: str) -> Job | None:
    data = await api.execute(JOB, {"id": job_id})
    return Job.from_json(data["job"]) if data.get("job") else None


async def recent_jobs(api: Api, first: int, status: str | None) -> list[Job]:
    data = await api.execute(JOBS, {"first": first, "status": status})
    return [Job.from_json(edge["node"]) for edge in data["jobs"]["edges"]]


async def job_updates(api: Api, job_id: str) -> AsyncIterator[Job]:
    """The job's current state, then each change; ends after a terminal state."""
    async for data in api.subscribe(WATCH, {"id": job_id}):
        yield Job.from_json(data["jobUpdated"])
