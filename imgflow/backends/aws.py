"""What the AWS backends (S3 storage, the SNS notifier) share: the region they sign for."""

from __future__ import annotations

import os

DEFAULT_REGION = "us-east-1"


def region_from_env() -> str:
    """`AWS_REGION`, else `AWS_DEFAULT_REGION`, else us-east-1 (boto's own variables)."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
