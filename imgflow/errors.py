"""Error codes every client sees, and the one exception that carries them.

A code is part of the public contract: it lands in GraphQL `extensions.code` and in
`Job.error.code`. Add members; never rename them.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class ErrorCode(StrEnum):
    """What went wrong, in a word a client can branch on."""

    BAD_USER_INPUT = "BAD_USER_INPUT"
    """An argument is malformed or out of range."""
    UNAUTHENTICATED = "UNAUTHENTICATED"
    """No valid token was presented."""
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    """Email or password is wrong."""
    EMAIL_TAKEN = "EMAIL_TAKEN"
    """An account with that email already exists."""
    NOT_FOUND = "NOT_FOUND"
    """The object does not exist, or belongs to someone else."""
    FORBIDDEN = "FORBIDDEN"
    """Signed in, but this needs the admin role."""
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    """The upload is larger than the configured byte limit."""
    EMPTY_FILE = "EMPTY_FILE"
    """The upload has no bytes."""
    UNSUPPORTED_FORMAT = "UNSUPPORTED_FORMAT"
    """The content is not one of the accepted image formats."""
    IMAGE_TOO_LARGE = "IMAGE_TOO_LARGE"
    """The image (source or planned output) has more pixels than allowed."""
    TOO_MANY_FRAMES = "TOO_MANY_FRAMES"
    """The image has more frames than allowed."""
    CORRUPT_IMAGE = "CORRUPT_IMAGE"
    """The image claims a supported format but its data is damaged."""
    INVALID_OPERATION = "INVALID_OPERATION"
    """An operation cannot apply to this image (e.g. a crop outside it)."""
    UPLOAD_MISSING = "UPLOAD_MISSING"
    """`confirmUpload` was called but no file is at the upload's key."""
    UPLOAD_EXPIRED = "UPLOAD_EXPIRED"
    """A direct upload was announced but never arrived in time."""
    TOO_MANY_OUTPUTS = "TOO_MANY_OUTPUTS"
    """A job asks for more outputs (variants plus srcset widths) than
    `IMGFLOW_MAX_OUTPUTS` allows; nothing was recorded."""
    PROCESSING_FAILED = "PROCESSING_FAILED"
    """The worker failed for a reason that is not the image's fault, after retries."""
    JOB_NOT_CANCELLABLE = "JOB_NOT_CANCELLABLE"
    """`cancelJob` on a job a worker has started, or one that has already ended."""
    UNAVAILABLE = "UNAVAILABLE"
    """A backend (database, storage) could not be reached; nothing was recorded. Try again
    later; a submission repeated with the same `idempotencyKey` cannot create two jobs."""
    JOB_NOT_RETRYABLE = "JOB_NOT_RETRYABLE"
    """`retryJob` on a job that is not FAILED, or a direct upload whose file never passed
    the checks (refused, or never sent)."""
    QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
    """The GraphQL document nests fields deeper than allowed; nothing was executed."""
    TOO_MANY_ALIASES = "TOO_MANY_ALIASES"
    """The GraphQL document uses more aliases than allowed; nothing was executed."""
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    """The GraphQL document would resolve too many fields (lists count once per item
    they may return, `first`); nothing was executed."""
    QUERY_TOO_LARGE = "QUERY_TOO_LARGE"
    """The GraphQL document is longer than allowed; it was not even parsed."""
    INTROSPECTION_DISABLED = "INTROSPECTION_DISABLED"
    """Schema introspection (`__schema`, `__type`) is turned off on this server."""
    RATE_LIMITED = "RATE_LIMITED"
    """Too many requests of one kind in a time window (submissions, failed sign-ins,
    registrations from one address);
    `extensions.retryAfter` says in how many seconds the next one is accepted."""
    TOO_MANY_ACTIVE_JOBS = "TOO_MANY_ACTIVE_JOBS"
    """The user already has the most jobs allowed awaiting an upload, queued or
    processing; nothing was recorded. Submit again once one has ended."""
    TOO_MANY_CONNECTIONS = "TOO_MANY_CONNECTIONS"
    """The user already has the most WebSockets allowed open: the new one is closed with
    4429 and this code as its reason."""
    TOO_MANY_SUBSCRIPTIONS = "TOO_MANY_SUBSCRIPTIONS"
    """The user already has the most subscriptions allowed running."""
    BAD_REQUEST = "BAD_REQUEST"
    """The HTTP request is not a GraphQL request this server can read (a body that is not
    UTF-8 JSON or not an object, a malformed multipart `operations` or `map`, a file part
    missing, an unsupported content type, bad GET parameters); answered 400 (405 for
    another method), nothing was executed."""
    OPERATION_NAME_REQUIRED = "OPERATION_NAME_REQUIRED"
    """The document holds several operations and the request names none in
    `operationName` (the GraphQL over HTTP spec's rule); answered 400, nothing ran."""
    REGISTRATION_CLOSED = "REGISTRATION_CLOSED"
    """`register` on a server whose operator closed registration
    (`IMGFLOW_REGISTRATION=closed`): accounts are made with `imgflow create-user`."""
    UPLOAD_ALREADY_USED = "UPLOAD_ALREADY_USED"
    """A direct-upload form was posted again after its file had been received: a form is
    good for one upload. Answered 409; the stored file is unchanged."""
    OUTPUT_TOO_LARGE = "OUTPUT_TOO_LARGE"
    """`convert.maxBytes` cannot be met: even the lowest quality (or, for a lossless
    format, the only encoding) is larger. The job failed and is not retried."""
    TIME_LIMIT_EXCEEDED = "TIME_LIMIT_EXCEEDED"
    """Decoding, processing and encoding the image took longer than the per-job time
    limit; the job failed and is not retried (the same image would take as long)."""
    FETCH_REFUSED = "FETCH_REFUSED"
    """An outbound address the SSRF guard does not allow (loopback, private, link-local,
    ...): an image URL whose host or a redirect leads there, or a webhook endpoint's.
    Nothing was sent to it."""
    FETCH_FAILED = "FETCH_FAILED"
    """The image URL could not be fetched: the name does not resolve, the connection
    failed or timed out, the server answered an error status, or more than 3 redirects."""
    FETCH_TOO_LARGE = "FETCH_TOO_LARGE"
    """The image at the URL is larger than IMGFLOW_MAX_UPLOAD_BYTES (download stopped)."""
    TOO_MANY_WEBHOOKS = "TOO_MANY_WEBHOOKS"
    """The user already has IMGFLOW_MAX_WEBHOOKS_PER_USER webhook endpoints."""
    PRESET_REQUIRED = "PRESET_REQUIRED"
    """The server takes only presets (`IMGFLOW_PRESETS_ONLY=true`): a submission must
    name one and give no operations, variants, srcset or analyze of its own."""
    PRESET_EXISTS = "PRESET_EXISTS"
    """`createPreset` with a name you already use, or one of the shared presets' names."""
    TOO_MANY_FILES = "TOO_MANY_FILES"
    """`submitImages` with more files than `IMGFLOW_MAX_BATCH_FILES`; no job was made."""


class ImgflowError(Exception):
    """A failure with a public code and a message fit for the client."""

    def __init__(
        self, code: ErrorCode, message: str, *, extensions: Mapping[str, object] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extensions = dict(extensions or {})
        """More for the client next to `code` in GraphQL `extensions` (e.g. `retryAfter`)."""

    def __repr__(self) -> str:
        return f"ImgflowError({self.code.value}, {self.message!r})"


def is_transient(error: BaseException) -> bool:
    """An outage rather than a bug: a connection refused, reset or timed out, on any
    backend. Worth trying again later; not worth a traceback."""
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    if isinstance(error, DBAPIError):
        # A killed or refused connection: invalidated by SQLAlchemy (asyncpg's
        # ConnectionDoesNotExistError, seen through the adapter), or reported as such.
        return error.connection_invalidated or isinstance(error, OperationalError | InterfaceError)
    return isinstance(error, OSError | TimeoutError | HTTPClientError | BotoConnectionError)
