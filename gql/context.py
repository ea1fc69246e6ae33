"""Per-request context: the process's services and the caller."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from imgflow.accounts import registration as accounts
from imgflow.accounts.auth import bearer_token, read_token
from imgflow.backends.counters import Entry
from imgflow.errors import ImgflowError
from imgflow.models import User
from imgflow.services import Services


@dataclass
class Context:
    services: Services
    request: Request | WebSocket
    connection_params: dict[str, Any] | None = None
    """graphql-transport-ws `connection_init` payload (set by strawberry)."""
    connection: Entry | None = None
    """A WebSocket's place among its user's open connections (see gql.connections)."""
    _user: User | None = field(default=None, repr=False)

    def token(self) -> str | None:
        params = self.connection_params or {}
        header = params.get("Authorization") or params.get("authorization")
        if not isinstance(header, str):
            header = self.request.headers.get("authorization")
        return bearer_token(header)

    async def user(self) -> User:
        """The signed-in caller; UNAUTHENTICATED when there is none."""
        if self._user is None:
            self._user = await accounts.authenticate(self.services, self.token())
        return self._user

    async def recheck_user(self) -> User:
        """The caller checked again now (token expiry, account disabled or deleted): a
        WebSocket's context lives as long as the socket, so its first answer must not
        stand for every later operation."""
        self._user = None
        return await self.user()

    def token_expires_at(self) -> datetime | None:
        """When the presented token stops working; None without a valid token."""
        token = self.token()
        if token is None:
            return None
        try:
            return read_token(token, self.services.settings.secret()).expires_at
        except ImgflowError:
            return None

    @property
    def client_address(self) -> str | None:
        """The caller's IP address as the server sees it (a trusted proxy's forwarded one)."""
        client = self.request.client
        return client.host if client else None

    @property
    def base_url(self) -> str:
        """Where clients reach this API, for absolute file URLs."""
        configured = self.services.settings.public_url
        if configured:
            return configured.rstrip("/")
        url = self.request.base_url
        scheme = {"ws": "http", "wss": "https"}.get(url.scheme, url.scheme)
        return str(url.replace(scheme=scheme)).rstrip("/")


Info = StrawberryInfo[Context, None]
