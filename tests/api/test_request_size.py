"""Request bodies over IMGFLOW_MAX_REQUEST_BYTES are refused with 413 before they are
read: raw sockets send a little of a huge body and get the answer without sending
the rest. (The cap sits in front of every route, whatever the backends.) A client that
goes away in the middle of its body is one line in the log, not a traceback."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import pytest

from tests.client import Client
from tests.conftest import Server, new_user, start_server, stop_server
from tests.imaging import quadrants
from tests.imaging import to_bytes as encode

LIMIT = 60_000
SETTINGS = {"IMGFLOW_MAX_UPLOAD_BYTES": "50000", "IMGFLOW_MAX_REQUEST_BYTES": str(LIMIT)}
BOUNDARY = "imgflow-test-boundary"


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("capped"), SETTINGS)
    yield server
    stop_server(server)
    assert "Traceback" not in server.log(), server.tracebacks()


@pytest.fixture
async def user(capped: Server) -> AsyncIterator[Client]:
    client = await new_user(capped.base_url)
    yield client
    await client.close()


def connect(server: Server) -> socket.socket:
    url = urlsplit(server.base_url)
    return socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=10)


def head(token: str | None, *lines: str) -> bytes:
    auth = [f"Authorization: Bearer {token}"] if token else []
    return (
        "\r\n".join(["POST /graphql HTTP/1.1", "Host: test", *auth, *lines]) + "\r\n\r\n"
    ).encode()


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    header_block, _, body = rest.partition(b"\r\n\r\n")
    headers = {}
    for line in header_block.decode().split("\r\n"):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def multipart_start(file_size: int) -> tuple[bytes, int]:
    """The opening of a submitImage upload of `file_size` bytes, and the total length."""
    operations = {
        "query": "mutation($f: Upload!) { submitImage(file: $f, operations: [{grayscale: true}])"
        " { id } }",
        "variables": {"f": None},
    }
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n'
        f"{json.dumps(operations)}\r\n",
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="map"\r\n\r\n'
        '{"0": ["variables.f"]}\r\n',
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="0"; filename="a.png"\r\n'
        "Content-Type: image/png\r\n\r\n",
    ]
    opening = "".join(parts).encode()
    closing = f"\r\n--{BOUNDARY}--\r\n".encode()
    return opening, len(opening) + file_size + len(closing)


def assert_refused(status: int, headers: dict[str, str], body: bytes) -> None:
    assert status == 413
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"] == "PAYLOAD_TOO_LARGE"


async def job_count(client: Client) -> int:
    data = await client.execute("{ jobs(first: 100) { edges { cursor } } }")
    return len(data["jobs"]["edges"])


async def test_declared_oversize_is_refused_before_the_body_is_sent(
    capped: Server, user: Client
) -> None:
    opening, total = multipart_start(file_size=1_000_000_000)  # one gigabyte announced
    with connect(capped) as sock:
        sock.sendall(
            head(
                user.token,
                f"Content-Type: multipart/form-data; boundary={BOUNDARY}",
                f"Content-Length: {total}",
            )
            + opening
            + b"\x89PNG" * 256  # a kilobyte of the gigabyte: all the server ever gets
        )
        assert_refused(*read_response(sock))
    assert await job_count(user) == 0


async def test_streamed_oversize_is_refused_once_past_the_limit(
    capped: Server, user: Client
) -> None:
    opening, _ = multipart_start(file_size=0)
    chunks = [opening] + [b"\x89PNG" * 2000] * 8  # 64 kB of file: past the limit
    with connect(capped) as sock:
        sock.sendall(
            head(
                user.token,
                f"Content-Type: multipart/form-data; boundary={BOUNDARY}",
                "Transfer-Encoding: chunked",
            )
        )
        for chunk in chunks:
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        # No terminating chunk: the body never ends, so only a refusal made while
        # counting can answer.
        assert_refused(*read_response(sock))
    assert await job_count(user) == 0


async def test_a_body_within_the_limit_goes_through(user: Client) -> None:
    job = await user.submit(encode(quadrants(), "PNG"), [{"grayscale": True}])
    assert job["status"] == "QUEUED"
    assert await job_count(user) == 1


async def test_a_streamed_body_within_the_limit_goes_through(capped: Server, user: Client) -> None:
    payload = json.dumps({"query": "{ me { email } }"}).encode()
    with connect(capped) as sock:
        sock.sendall(
            head(
                user.token,
                "Content-Type: application/json",
                "Transfer-Encoding: chunked",
                "Connection: close",
            )
        )
        for start in range(0, len(payload), 8):
            part = payload[start : start + 8]
            sock.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        sock.sendall(b"0\r\n\r\n")
        status, _headers, body = read_response(sock)
    assert status == 200
    assert b"@example.com" in body


async def test_a_client_gone_mid_body_is_one_line_in_the_log(capped: Server, user: Client) -> None:
    logged_before = len(capped.log())
    opening, total = multipart_start(file_size=40_000)
    cut_short = {
        "application/json": json.dumps({"query": "{ me { email } }"}).encode()[:10],
        f"multipart/form-data; boundary={BOUNDARY}": opening + b"\x89PNG" * 100,
    }
    for content_type, sent in cut_short.items():
        with connect(capped) as sock:
            announced = [f"Content-Type: {content_type}", f"Content-Length: {total}"]
            sock.sendall(head(user.token, *announced) + sent)
        # Closed here, with most of the announced body never sent.
    deadline = time.monotonic() + 10
    while capped.log()[logged_before:].count("client went away") < 2:
        assert time.monotonic() < deadline, capped.log()[logged_before:]
        await asyncio.sleep(0.05)
    assert "Traceback" not in capped.log()[logged_before:], capped.tracebacks()
    assert await job_count(user) == 0
