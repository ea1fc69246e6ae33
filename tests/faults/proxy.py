"""A TCP forwarder the fault tests can cut: the way to make S3 (moto) unreachable for a
few seconds without losing moto's in-memory buckets by restarting it.

`down()` resets every open connection and refuses new ones (the port is closed);
`up()` listens on the same port again. Runs its own event loop in a thread, so the
test's loop and the processes under test are not involved.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Coroutine
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, listen_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.listen_host = listen_host
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.Server | None = None
        self.transports: set[asyncio.BaseTransport] = set()

    @property
    def url(self) -> str:
        return f"http://{self.listen_host}:{self.port}"

    def start(self) -> None:
        self.thread.start()
        self.up()

    def up(self) -> None:
        self._run(self._listen())

    def down(self) -> None:
        self._run(self._cut())

    def stop(self) -> None:
        self.down()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)

    def _run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    async def _listen(self) -> None:
        if self.server is None:
            self.server = await asyncio.start_server(
                self._pipe, self.listen_host, self.port, reuse_address=True
            )

    async def _cut(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            server.close()
        for transport in list(self.transports):
            transport.abort()  # RST: the client sees a reset, as when a host goes away
        self.transports.clear()

    async def _pipe(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        try:
            upstream_reader, upstream = await asyncio.open_connection(*self.target)
        except OSError:
            client.transport.abort()
            return
        pair = {client.transport, upstream.transport}
        self.transports |= pair
        try:
            await asyncio.gather(_copy(client_reader, upstream), _copy(upstream_reader, client))
        finally:
            self.transports -= pair
            for writer in (client, upstream):
                writer.transport.abort()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
