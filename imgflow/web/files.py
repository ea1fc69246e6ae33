"""The embedded storage's HTTP side: files behind HMAC-signed, expiring links, and the
upload form that stands in for S3's presigned POST."""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from imgflow import signing
from imgflow.backends.storage import ObjectMissing
from imgflow.backends.storage.downloads import download_for
from imgflow.errors import ErrorCode, ImgflowError
from imgflow.jobs import uploads
from imgflow.services import Services


async def serve_file(request: Request) -> Response:
    """Files of the local storage, behind HMAC-signed, expiring URLs."""
    services: Services = request.app.state.services
    key = request.path_params["key"]
    expires = request.query_params.get("expires", "")
    signature = request.query_params.get("signature", "")
    if not signing.verify(services.settings.secret(), key, expires, signature):
        return refusal(403, "FORBIDDEN", "invalid or expired link")
    try:
        data = await services.storage.get(key)
    except ObjectMissing:
        return refusal(404, "NOT_FOUND", "no such file")
    download = download_for(key)
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": download.disposition,
        "Cache-Control": "private, max-age=3600",
    }
    return Response(data, media_type=download.content_type, headers=headers)


FORM_OVERHEAD_BYTES = 16 * 1024
"""Room for the policy fields and multipart boundaries around the file itself."""


UPLOADS_IN_FLIGHT: set[str] = set()
"""Keys being written by /uploads now: the embedded backends live in one process."""


def refusal(status: int, code: str, message: str) -> Response:
    return JSONResponse({"error": code, "message": message}, status)


async def receive_upload(request: Request) -> Response:
    """The embedded stand-in for S3's presigned POST: same form, same limits, checked
    against an HMAC-signed, expiring policy."""
    services: Services = request.app.state.services
    declared = request.headers.get("content-length", "")
    limit = services.settings.max_upload_bytes
    if declared.isdigit() and int(declared) > limit + FORM_OVERHEAD_BYTES:
        return refusal(413, "PAYLOAD_TOO_LARGE", f"uploads are limited to {limit} bytes")
    async with request.form(max_files=1, max_fields=8) as form:
        fields = {name: value for name, value in form.items() if isinstance(value, str)}
        if not signing.verify_upload_policy(services.settings.secret(), fields):
            return refusal(403, "FORBIDDEN", "invalid or expired upload policy")
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            return refusal(400, "BAD_USER_INPUT", "the form needs a `file` part")
        allowed = int(fields["max_bytes"])
        data = await upload.read(allowed + 1)
    if len(data) > allowed:
        return refusal(413, "PAYLOAD_TOO_LARGE", f"uploads are limited to {allowed} bytes")
    if not data:
        return refusal(400, "EMPTY_FILE", "the file is empty")
    key = fields["key"]
    if key in UPLOADS_IN_FLIGHT:  # the same form posted twice at once
        return refusal(409, ErrorCode.UPLOAD_ALREADY_USED.value, "this upload form is in use")
    UPLOADS_IN_FLIGHT.add(key)
    try:
        await uploads.check_form_unused(services, key)
        await services.storage.put(key, data, "application/octet-stream")
    except ImgflowError as error:
        return refusal(409, error.code.value, error.message)
    finally:
        UPLOADS_IN_FLIGHT.discard(key)
    return Response(status_code=204)
