"""Which signing secrets a process refuses to start with.

IMGFLOW_JWT_SECRET signs every token and file link: whoever knows it can sign in as
anyone. Everywhere it must have at least 32 characters. In production it must also not
be a placeholder copied from an example: length alone lets through
"change-me-change-me-change-me-..." or "my-super-secret-jwt-key-for-prod", and
`imgflow serve` does not generate one there (a secret generated on one machine
would differ between the processes of a deployment, and vanish with its disk).
"""

from __future__ import annotations

import re

MIN_SECRET_LENGTH = 32
PLACEHOLDER_WORDS = (
    "changeme",
    "secret",
    "password",
    "placeholder",
    "example",
    "replaceme",
    "default",
    "insecure",
)
"""Words of example secrets. A random secret contains one with a probability below
one in ten million (six base64 characters matching), so refusing them costs nothing."""
MIN_DISTINCT_CHARACTERS = 10
"""A random secret of 32+ characters uses far more distinct characters (hex: 16 with
near certainty); fewer means a repeated word or a keyboard run."""
GENERATE_HINT = "generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"


def checked(secret: str | None, *, production: bool) -> str:
    """`secret`, if it may sign here; ValueError saying why not otherwise."""
    if not secret or len(secret) < MIN_SECRET_LENGTH:
        where = " (in production `imgflow serve` does not generate one)" if production else ""
        raise ValueError(
            f"IMGFLOW_JWT_SECRET must be set to at least {MIN_SECRET_LENGTH} characters"
            f"{where}; {GENERATE_HINT}"
        )
    if production and (problem := placeholder_problem(secret)):
        raise ValueError(f"IMGFLOW_JWT_SECRET is refused in production: {problem}; {GENERATE_HINT}")
    return secret


def placeholder_problem(secret: str) -> str | None:
    """What gives `secret` away as a placeholder rather than a random value."""
    letters = re.sub(r"[^a-z0-9]", "", secret.lower())
    for word in PLACEHOLDER_WORDS:
        if word in letters:
            return f"it contains the placeholder word {word!r}"
    if len(set(secret)) < MIN_DISTINCT_CHARACTERS:
        return f"it uses fewer than {MIN_DISTINCT_CHARACTERS} distinct characters"
    return None
