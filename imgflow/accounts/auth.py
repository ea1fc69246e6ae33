"""Passwords (argon2id) and bearer tokens (HS256 JWT)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

import jwt
from argon2 import Parameters, PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

from imgflow.errors import ErrorCode, ImgflowError

if TYPE_CHECKING:
    from imgflow.settings import PasswordProfile

PROFILES: dict[PasswordProfile, Parameters] = {
    # argon2-cffi's default: 64 MiB, 3 passes, 4 lanes.
    "rfc9106-low-memory": profiles.RFC_9106_LOW_MEMORY,
    # OWASP's password storage cheat sheet, its first choice: 19 MiB, 2 passes, 1 lane.
    "owasp-minimum": replace(
        profiles.RFC_9106_LOW_MEMORY, time_cost=2, memory_cost=19 * 1024, parallelism=1
    ),
}
ALGORITHM = "HS256"


@cache
def hasher(profile: PasswordProfile) -> PasswordHasher:
    return PasswordHasher.from_parameters(PROFILES[profile])


@cache
def dummy_hash(profile: PasswordProfile) -> str:
    """Verifying against this keeps "no such user" as slow as "wrong password". Made at
    a process's first sign-in, whoever signs in (so that one is as slow either way), not
    at import: every process, most of which never see one, would pay a hash to start."""
    return hasher(profile).hash("imgflow-timing-equaliser")


def hash_password(password: str, profile: PasswordProfile) -> str:
    return hasher(profile).hash(password)


def verify_password(password_hash: str | None, password: str, profile: PasswordProfile) -> bool:
    dummy = dummy_hash(profile)
    try:
        checked = hasher(profile).verify(password_hash or dummy, password)
    except (VerificationError, InvalidHashError):
        return False
    return checked and password_hash is not None


def needs_rehash(password_hash: str, profile: PasswordProfile) -> bool:
    """Whether a stored hash was made with other parameters than the profile's (the
    operator changed IMGFLOW_PASSWORD_PROFILE since): rehashed at the next sign-in."""
    return hasher(profile).check_needs_rehash(password_hash)


@dataclass(frozen=True)
class Token:
    value: str
    expires_at: datetime


def issue_token(user_id: str, secret: str, ttl_seconds: int) -> Token:
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=ttl_seconds)
    claims = {"sub": user_id, "iat": now, "exp": expires}
    return Token(jwt.encode(claims, secret, algorithm=ALGORITHM), expires.replace(microsecond=0))


def user_id_from_token(token: str, secret: str) -> str:
    """The subject of a valid, unexpired token; UNAUTHENTICATED otherwise."""
    return read_token(token, secret).user_id


@dataclass(frozen=True)
class TokenClaims:
    user_id: str
    expires_at: datetime


def read_token(token: str, secret: str) -> TokenClaims:
    """The subject and expiry of a valid, unexpired token; UNAUTHENTICATED otherwise."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp"]})
    except jwt.ExpiredSignatureError:
        raise ImgflowError(ErrorCode.UNAUTHENTICATED, "the token has expired") from None
    except jwt.InvalidTokenError:
        raise ImgflowError(ErrorCode.UNAUTHENTICATED, "the token is not valid") from None
    subject = claims.get("sub")
    if not isinstance(subject, str):
        raise ImgflowError(ErrorCode.UNAUTHENTICATED, "the token is not valid")
    return TokenClaims(subject, datetime.fromtimestamp(int(claims["exp"]), UTC))


def bearer_token(header: str | None) -> str | None:
    """`Bearer abc` -> `abc`; anything else -> None."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None
