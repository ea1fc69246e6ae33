"""The SSRF guard, address by address, then over real sockets: what it refuses is never
connected to, redirects are checked hop by hop, and a name is resolved once."""

from __future__ import annotations

from ipaddress import ip_address

import httpx
import pytest

from imgflow.outbound.client import BodyTooLarge, get, guarded_client
from imgflow.outbound.guard import Address, Guard, OutboundRefused, parse_allow, refusal
from tests.imaging import quadrants, to_bytes
from tests.receiver import listening_socket, running_receiver

REFUSED = [
    "127.0.0.1",
    "127.255.255.254",
    "0.0.0.0",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "169.254.0.1",
    "100.64.0.1",  # CGNAT
    "100.127.255.254",
    "224.0.0.1",
    "239.255.255.250",
    "255.255.255.255",
    "240.0.0.1",
    "192.0.0.8",
    "198.18.0.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456:789a::1",
    "ff02::1",
    "fec0::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "::127.0.0.1",  # IPv4-compatible
    "::10.0.0.1",
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::a00:1",  # local-use NAT64
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "2001:db8::1",  # documentation
    "100::1",  # discard-only
]
ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "100.128.0.1",  # just past CGNAT
    "172.32.0.1",  # just past 172.16/12
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
]


@pytest.mark.parametrize("address", REFUSED)
def test_refused_addresses(address: str) -> None:
    assert refusal(ip_address(address)) is not None
    with pytest.raises(OutboundRefused):
        Guard().check_address(ip_address(address), 80)


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ip_address(address)) is None


def test_allow_list_names_hosts_ports_and_networks() -> None:
    guard = Guard(parse_allow("127.0.0.1:8080, 10.1.0.0/16 ,[::1]:9000,fd00::5"))
    guard.check_address(ip_address("127.0.0.1"), 8080)
    guard.check_address(ip_address("10.1.2.3"), 1)
    guard.check_address(ip_address("::1"), 9000)
    guard.check_address(ip_address("fd00::5"), 443)
    for address, port in [("127.0.0.1", 8081), ("10.2.0.1", 80), ("::1", 9001)]:
        with pytest.raises(OutboundRefused):
            guard.check_address(ip_address(address), port)


@pytest.mark.parametrize("item", ["http://x", "10.0.0.0/99", "a b", "host:port"])
def test_allow_list_refuses_typos(item: str) -> None:
    with pytest.raises(ValueError, match="IMGFLOW_OUTBOUND_ALLOW"):
        parse_allow(item)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/a", "file:///etc/passwd", "gopher://x", "http://", "//x/y"]
)
async def test_only_http_and_https(url: str) -> None:
    with pytest.raises(OutboundRefused):
        await Guard().resolve(url)


def fake_dns(answers: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    """A resolver answering from a table: no DNS server runs here to be pointed at
    hostile answers, so this one stands in for it (the guard takes any resolver)."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[Address]:
        asked.append(host)
        return [ip_address(a) for a in answers[host]]

    resolve.asked = asked  # type: ignore[attr-defined]
    return resolve


async def test_a_name_resolving_to_a_refused_address_is_refused() -> None:
    resolver = fake_dns(
        {"metadata.example": ["169.254.169.254"], "mixed.example": ["8.8.8.8", "10.0.0.1"]}
    )
    guard = Guard(resolver=resolver)
    with pytest.raises(OutboundRefused, match=r"169\.254\.169\.254"):
        await guard.resolve("http://metadata.example/latest/meta-data/")
    with pytest.raises(OutboundRefused, match=r"10\.0\.0\.1"):
        await guard.resolve("https://mixed.example/")
    target = await Guard(parse_allow("mixed.example"), resolver).resolve("https://mixed.example/")
    assert str(target.address) == "8.8.8.8"


async def test_a_refused_address_is_never_connected_to() -> None:
    with listening_socket() as listener:
        async with guarded_client(Guard(), connect_timeout=2, read_timeout=2) as client:
            for url in (
                f"http://127.0.0.1:{listener.port}/",
                f"http://[::ffff:127.0.0.1]:{listener.port}/",
            ):
                with pytest.raises(OutboundRefused, match="loopback"):
                    await client.get(url)
        assert listener.accepted() == 0


async def test_the_checked_address_is_the_one_connected_to() -> None:
    """The name resolves (once) to the allowed address; the request goes there, under
    the name: no second look-up could send it elsewhere."""
    with running_receiver() as receiver:
        receiver.files["/a.png"] = b"picture"
        resolver = fake_dns({"images.example": ["127.0.0.1"]})
        guard = Guard(parse_allow(f"127.0.0.1:{receiver.port}"), resolver)
        async with guarded_client(guard, connect_timeout=2, read_timeout=2) as client:
            body = await get(client, f"http://images.example:{receiver.port}/a.png", 100, 5)
        assert body == b"picture"
        assert resolver.asked == ["images.example"]  # type: ignore[attr-defined]


async def test_every_redirect_is_checked_again() -> None:
    with running_receiver() as receiver, listening_socket() as listener:
        receiver.redirects["/hop"] = f"http://127.0.0.1:{listener.port}/inside"
        receiver.redirects["/metadata"] = "http://169.254.169.254/latest/meta-data/"
        guard = Guard(parse_allow(f"127.0.0.1:{receiver.port}"))
        async with guarded_client(guard, connect_timeout=2, read_timeout=2, max_redirects=3) as c:
            with pytest.raises(OutboundRefused, match="loopback"):
                await get(c, f"{receiver.url}/hop", 100, 5)
            with pytest.raises(OutboundRefused, match="link-local"):
                await get(c, f"{receiver.url}/metadata", 100, 5)
        assert listener.accepted() == 0
        assert receiver.gets == ["/hop", "/metadata"]


async def test_redirects_are_followed_three_times_at_most() -> None:
    with running_receiver() as receiver:
        image = to_bytes(quadrants(8, 8), "PNG")
        receiver.files["/final.png"] = image
        for n in range(4):
            receiver.redirects[f"/r{n}"] = f"/r{n + 1}" if n < 3 else "/final.png"
        guard = Guard(parse_allow(f"127.0.0.1:{receiver.port}"))
        async with guarded_client(guard, connect_timeout=2, read_timeout=2, max_redirects=3) as c:
            assert await get(c, f"{receiver.url}/r1", 10_000, 5) == image  # three hops
            with pytest.raises(httpx.TooManyRedirects):
                await get(c, f"{receiver.url}/r0", 10_000, 5)  # four


async def test_bodies_over_the_limit_stop_the_download() -> None:
    with running_receiver() as receiver:
        receiver.files["/big"] = b"x" * 5000
        guard = Guard(parse_allow(f"127.0.0.1:{receiver.port}"))
        async with guarded_client(guard, connect_timeout=2, read_timeout=2) as client:
            with pytest.raises(BodyTooLarge):
                await get(client, f"{receiver.url}/big", 4999, 5)
            assert len(await get(client, f"{receiver.url}/big", 5000, 5)) == 5000


async def test_ipv6_answers_are_pinned_too() -> None:
    """A name answering only with ::1 reaches the allowed receiver on [::1] (when the
    machine has IPv6 loopback), under its name."""
    import socket

    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.fail("IPv6 loopback is needed for this test")
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers["Host"])
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    class Server6(ThreadingHTTPServer):
        address_family = socket.AF_INET6

    server = Server6(("::1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        guard = Guard(parse_allow(f"[::1]:{port}"), fake_dns({"six.example": ["::1"]}))
        async with guarded_client(guard, connect_timeout=2, read_timeout=2) as client:
            assert await get(client, f"http://six.example:{port}/", 10, 5) == b"ok"
        assert seen == [f"six.example:{port}"]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "host",
    ["localhost", "2130706433", "0x7f000001", "127.1", "017700000001", "0", "[::]", "LOCALHOST."],
)
async def test_other_spellings_of_this_machine_are_refused(host: str) -> None:
    """Decimal, hex, octal and short IPv4 forms, names from /etc/hosts: the system
    resolver turns them into the address, and the address is what is checked."""
    with listening_socket() as listener:
        async with guarded_client(Guard(), connect_timeout=2, read_timeout=2) as client:
            with pytest.raises(OutboundRefused):
                await client.get(f"http://{host}:{listener.port}/")
        assert listener.accepted() == 0
