"""Every GraphQL error leaves with an `extensions.code`; internals never leak.

- ImgflowError raised anywhere below a resolver -> its code and message.
- Errors GraphQL itself reports (syntax, unknown field, wrong type, @oneOf misuse,
  variable coercion) have no original exception -> BAD_USER_INPUT.
- A backend outage (connection refused, reset, timed out) -> UNAVAILABLE: the request
  recorded nothing and may be repeated.
- Anything else is a bug: logged with its traceback, answered as INTERNAL_SERVER_ERROR
  with a generic message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from imgflow.errors import ErrorCode, ImgflowError, is_transient

log = logging.getLogger(__name__)
INTERNAL = "INTERNAL_SERVER_ERROR"
UNAVAILABLE_MESSAGE = "a backend is unavailable; nothing was recorded: try again shortly"


def with_code(
    error: GraphQLError,
    code: str,
    message: str | None = None,
    extra: Mapping[str, object] | None = None,
) -> GraphQLError:
    return GraphQLError(
        message=message if message is not None else error.message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions={**(error.extensions or {}), **(extra or {}), "code": code},
    )


def classify(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, ImgflowError):
        return with_code(error, original.code.value, original.message, original.extensions)
    if original is None or isinstance(original, GraphQLError):
        code = (error.extensions or {}).get("code") or ErrorCode.BAD_USER_INPUT.value
        return with_code(error, str(code))
    if is_transient(original):
        return with_code(error, ErrorCode.UNAVAILABLE.value, UNAVAILABLE_MESSAGE)
    return with_code(error, INTERNAL, "internal error; it has been logged")


def is_unexpected(error: GraphQLError) -> bool:
    original = error.original_error
    return original is not None and not isinstance(original, ImgflowError | GraphQLError)


def log_unexpected(errors: list[GraphQLError]) -> None:
    """Bugs get a traceback in the log; client mistakes are not the server's news."""
    for error in errors:
        if not is_unexpected(error):
            continue
        original = error.original_error
        if original is not None and is_transient(original):
            log.warning("backend unavailable at %s: %r", error.path, original)
        else:
            log.error("unexpected error at %s", error.path, exc_info=original)


class ErrorCodes(MaskErrors):
    """MaskErrors' result plumbing (queries, mutations, subscription events), with
    our classification instead of blanket masking."""

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return [classify(error) for error in errors]
