"""Tokens remembered per API: `{url: token}` in `$XDG_CONFIG_HOME/imgflow/credentials.json`
(`~/.config/imgflow/` by default), readable by the user alone (file 0600, directory 0700).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

FILE_MODE = 0o600  # what mkstemp creates
DIR_MODE = 0o700


class CredentialsError(Exception):
    """The credentials file exists but cannot be used."""


def config_dir() -> Path:
    # The XDG spec says a relative $XDG_CONFIG_HOME is invalid and must be ignored.
    configured = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(configured) if os.path.isabs(configured) else Path.home() / ".config"
    return base / "imgflow"


@dataclass(frozen=True)
class CredentialStore:
    path: Path

    @classmethod
    def default(cls) -> CredentialStore:
        return cls(config_dir() / "credentials.json")

    def tokens(self) -> dict[str, str]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return {}
        except OSError as error:
            raise CredentialsError(f"cannot read {self.path}: {error.strerror}") from None
        try:
            tokens = json.loads(text)
        except ValueError:
            tokens = None
        if not isinstance(tokens, dict) or not all(isinstance(v, str) for v in tokens.values()):
            raise CredentialsError(
                f"{self.path} is not a credentials file: delete it to start over"
            )
        return tokens

    def token(self, url: str) -> str | None:
        return self.tokens().get(url)

    def save(self, url: str, token: str) -> None:
        self._write({**self.tokens(), url: token})

    def forget(self, url: str) -> bool:
        tokens = self.tokens()
        if tokens.pop(url, None) is None:
            return False
        self._write(tokens)
        return True

    def _write(self, tokens: dict[str, str]) -> None:
        try:
            self._replace(tokens)
        except OSError as error:
            raise CredentialsError(f"cannot write {self.path}: {error.strerror}") from None

    def _replace(self, tokens: dict[str, str]) -> None:
        directory = self.path.parent
        directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        directory.chmod(DIR_MODE)  # also when it existed with a looser mode
        # mkstemp creates the file 0600, and the rename is atomic: the tokens are never
        # readable by others, nor half-written if the process dies.
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".credentials-")
        try:
            with os.fdopen(handle, "w") as file:
                json.dump(tokens, file, indent=2, sort_keys=True)
                file.write("\n")
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
