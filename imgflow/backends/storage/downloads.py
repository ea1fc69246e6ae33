"""How a stored file presents itself to whoever downloads it.

Files are what users uploaded, or made from it. Served with their true type, as an
attachment and with `nosniff`, a browser saves them instead of rendering them in the
origin that serves them: a file crafted to pass as HTML or script can never run as a
page of the API (or of the bucket). `<img src>` ignores the attachment and still
shows the image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from imgflow.imaging.formats import EXTENSIONS

MIME_BY_EXTENSION = {ext: fmt.mime_type for fmt, ext in EXTENSIONS.items()}
OCTET_STREAM = "application/octet-stream"


@dataclass(frozen=True)
class Download:
    content_type: str
    disposition: str


def download_for(key: str) -> Download:
    """`results/<job id>.png` -> image/png, `attachment; filename="<job id>.png"`;
    keys without a known extension (sources) are opaque bytes."""
    name = key.rsplit("/", 1)[-1]
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    # Keys are ours (job ids), but a header value must stay one quoted token regardless.
    filename = re.sub(r"[^A-Za-z0-9._-]", "_", name) or "download"
    return Download(
        content_type=MIME_BY_EXTENSION.get(extension, OCTET_STREAM),
        disposition=f'attachment; filename="{filename}"',
    )
