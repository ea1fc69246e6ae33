"""The SSRF guard: resolve a URL's host once, refuse addresses inside the service's own
networks, and hand back the checked address to connect to (no second look-up, so a DNS
answer that changes between check and connect, "DNS rebinding", changes nothing).

Refused: loopback, private (RFC 1918, IPv6 ULA), link-local (with the cloud metadata
address 169.254.169.254), CGNAT 100.64.0.0/10, multicast, unspecified, broadcast and
reserved ranges, every other address that is not global, and IPv6 forms carrying an
IPv4 address (mapped, compatible, 6to4, Teredo, NAT64) whenever the IPv4 one is refused.
`IMGFLOW_OUTBOUND_ALLOW` names what operators let through anyway.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from urllib.parse import urlsplit

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network
Resolver = Callable[[str, int], Awaitable[list[Address]]]
"""host, port -> every address the name resolves to."""

SCHEMES = {"http": 80, "https": 443}
CGNAT = ip_network("100.64.0.0/10")
NAT64 = ip_network("64:ff9b::/96")
NAT64_LOCAL = ip_network("64:ff9b:1::/48")
"""RFC 8215's local-use NAT64 prefix: the embedding's position varies, so it is refused."""
SPECIAL_PURPOSE = tuple(
    ip_network(network)
    for network in (
        "0.0.0.0/8",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
    )
)
"""IANA's special-purpose ranges that are not global, listed here as well: what
`ipaddress` counts as private or global has changed between Python releases."""


class OutboundRefused(Exception):
    """The guard refuses this URL or address; the message says why."""


@dataclass(frozen=True)
class Target:
    """A URL the guard accepted: its scheme, host name, port, and the address to use."""

    scheme: str
    host: str
    port: int
    address: Address


@dataclass(frozen=True)
class AllowEntry:
    """One item of IMGFLOW_OUTBOUND_ALLOW: a host (name or address) with an optional
    port, or a network (CIDR)."""

    host: str | None = None
    port: int | None = None
    network: Network | None = None

    def admits_host(self, host: str, port: int) -> bool:
        return self.host == host and self.port in (None, port)

    def admits_address(self, address: Address, port: int) -> bool:
        if self.network is not None:
            return address in self.network
        return self.host == str(address) and self.port in (None, port)


def parse_allow(text: str) -> tuple[AllowEntry, ...]:
    """`host[:port]`, `[v6]:port` or CIDR, comma-separated; a bad item raises ValueError."""
    return tuple(parse_allow_entry(item.strip()) for item in text.split(",") if item.strip())


def parse_allow_entry(item: str) -> AllowEntry:
    if "/" in item:
        try:
            return AllowEntry(network=ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"bad IMGFLOW_OUTBOUND_ALLOW network {item!r}") from None
    if item.count(":") > 1 and not item.startswith("["):
        try:  # a bare IPv6 address: its colons are its own, not a port's
            return AllowEntry(host=str(ip_address(item)))
        except ValueError:
            pass
    parts = urlsplit(f"//{item}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host or parts.path or parts.username or " " in item:
        raise ValueError(f"bad IMGFLOW_OUTBOUND_ALLOW item {item!r}: expected host[:port] or CIDR")
    return AllowEntry(host=canonical_host(host), port=port)


def canonical_host(host: str) -> str:
    """Lower case; an address literal in its one canonical spelling."""
    host = host.lower().rstrip(".")
    try:
        return str(ip_address(host))
    except ValueError:
        return host


def refusal(address: Address) -> str | None:
    """Why the guard refuses `address`, or None when it is a public one."""
    if isinstance(address, IPv6Address):
        return ipv6_refusal(address)
    return ipv4_refusal(address)


def ipv4_refusal(address: IPv4Address) -> str | None:
    checks = (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local (cloud metadata lives here)"),
        (address in CGNAT, "carrier-grade NAT (100.64.0.0/10)"),
        (address.is_multicast, "multicast"),
        (address.is_reserved, "reserved or broadcast"),
        (address.is_private, "private"),
        (special_purpose(address), "a special-purpose range"),
        (not address.is_global, "not a public address"),
    )
    return next((reason for refused, reason in checks if refused), None)


def ipv6_refusal(address: IPv6Address) -> str | None:
    if address.scope_id:
        return "link-local (scoped)"
    inner = embedded_ipv4(address)
    if inner is not None:
        reason = ipv4_refusal(inner)
        return f"{reason}: {inner} inside an IPv6 address" if reason else None
    checks = (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address in NAT64_LOCAL, "local-use NAT64"),
        (address.is_link_local or address.is_site_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address.is_private, "private (unique local)"),
        (address.is_reserved, "reserved"),
        (special_purpose(address), "a special-purpose range"),
        (not address.is_global, "not a public address"),
    )
    return next((reason for refused, reason in checks if refused), None)


def special_purpose(address: Address) -> bool:
    return any(address in network for network in SPECIAL_PURPOSE)


def embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 one stands for: mapped (::ffff:a.b.c.d), compatible
    (::a.b.c.d), 6to4 (2002::/16), Teredo (2001::/32, the client) or NAT64
    (64:ff9b::/96). None for a plain IPv6 address."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    if int(address) >> 32 == 0 and int(address) > 1:  # ::, ::1 are v6's own
        return IPv4Address(int(address))
    return None


async def system_resolver(host: str, port: int) -> list[Address]:
    """Every address the system resolver gives for `host` (A and AAAA)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host}: {exc.strerror}") from exc
    return [ip_address(str(info[4][0]).partition("%")[0]) for info in infos]


class Guard:
    """Checks URLs and addresses against the rules and the operator's allow-list."""

    def __init__(self, allow: Sequence[AllowEntry] = (), resolver: Resolver = system_resolver):
        self.allow = tuple(allow)
        self.resolver = resolver

    @classmethod
    def from_setting(cls, text: str, resolver: Resolver = system_resolver) -> Guard:
        return cls(parse_allow(text), resolver)

    def check_address(self, address: Address, port: int) -> None:
        """Raise OutboundRefused unless `address` is public or allowed."""
        if any(entry.admits_address(address, port) for entry in self.allow):
            return
        reason = refusal(address)
        if reason is not None:
            raise OutboundRefused(f"the address {address} is {reason}")

    async def resolve(self, url: str) -> Target:
        """The URL's target, its host resolved once and every address it has checked."""
        scheme, host, port = split_url(url)
        literal = as_address(host)
        if literal is not None:
            self.check_address(literal, port)
            return Target(scheme, host, port, literal)
        addresses = await self.resolver(host, port)
        if not addresses:
            raise OSError(f"{host} has no address")
        if not any(entry.admits_host(host, port) for entry in self.allow):
            for address in addresses:  # one refused answer refuses the name
                self.check_address(address, port)
        return Target(scheme, host, port, addresses[0])


def split_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL; OutboundRefused for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundRefused(f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise OutboundRefused("only http and https URLs are allowed")
    if not parts.hostname:
        raise OutboundRefused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise OutboundRefused("credentials in the URL are not allowed")
    return scheme, canonical_host(parts.hostname), port or SCHEMES[scheme]


def as_address(host: str) -> Address | None:
    try:
        return ip_address(host)
    except ValueError:
        return None
