"""Passwords (argon2id) and bearer tokens (HS256 JWT)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from imgflow.errors import ErrorCode, ImgflowError

_hasher = PasswordHasher()
# Verifying against this keeps "no such user" as slow as "wrong password".
_DUMMY_HASH = _hasher.hash("imgflow-timing-equaliser")
ALGORITHM = "HS256"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


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
