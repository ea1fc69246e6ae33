"""HMAC-signed, expiring URLs for files the API serves itself (embedded storage)."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote, urlencode


def sign(secret: str, key: str, expires: int) -> str:
    message = f"{key}\n{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_path(secret: str, key: str, ttl_seconds: int, now: float | None = None) -> str:
    expires = int((now if now is not None else time.time()) + ttl_seconds)
    query = urlencode({"expires": expires, "signature": sign(secret, key, expires)})
    return f"/files/{quote(key)}?{query}"


def verify(secret: str, key: str, expires: str, signature: str, now: float | None = None) -> bool:
    """True when the signature matches and the URL has not expired."""
    try:
        expires_at = int(expires)
    except ValueError:
        return False
    if expires_at < (now if now is not None else time.time()):
        return False
    return hmac.compare_digest(sign(secret, key, expires_at), signature)
