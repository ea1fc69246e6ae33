"""Opaque pagination cursors: base64 of (created_at, id)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from imgflow.errors import ErrorCode, ImgflowError


def encode(created_at: datetime, job_id: str) -> str:
    raw = f"{created_at.isoformat()}|{job_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, job_id = raw.split("|", 1)
        created_at = datetime.fromisoformat(stamp)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ImgflowError(ErrorCode.BAD_USER_INPUT, "the cursor is not valid") from None
    if created_at.tzinfo is None:
        raise ImgflowError(ErrorCode.BAD_USER_INPUT, "the cursor is not valid")
    return created_at, job_id
