"""HMAC-signed, expiring links and upload policies for the embedded storage, where the
API itself plays the part S3's presigned URLs and POST policies play otherwise."""

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


def upload_policy(secret: str, key: str, max_bytes: int, ttl_seconds: int) -> dict[str, str]:
    """Form fields allowing one upload of at most `max_bytes` to `key` until expiry."""
    expires = int(time.time() + ttl_seconds)
    signature = _upload_signature(secret, key, max_bytes, expires)
    return {
        "key": key,
        "max_bytes": str(max_bytes),
        "expires": str(expires),
        "signature": signature,
    }


def verify_upload_policy(secret: str, fields: dict[str, str], now: float | None = None) -> bool:
    """True when the fields are an unexpired policy this server signed, unchanged."""
    try:
        key, max_bytes, expires = fields["key"], int(fields["max_bytes"]), int(fields["expires"])
        signature = fields["signature"]
    except (KeyError, ValueError):
        return False
    if expires < (now if now is not None else time.time()):
        return False
    return hmac.compare_digest(_upload_signature(secret, key, max_bytes, expires), signature)


def _upload_signature(secret: str, key: str, max_bytes: int, expires: int) -> str:
    message = f"upload\n{key}\n{max_bytes}\n{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
