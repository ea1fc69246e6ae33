"""Hosts on one machine: network namespaces joined to the root namespace by veth pairs.

Each host is a namespace of its own (iproute2 `ip netns`) with one veth link to the
root namespace, in a private /30 of a 10.x.y.0/24 made for the run: the root end is
`.4k+1`, the host end `.4k+2`. The services (PostgreSQL, RabbitMQ, Redis, moto) listen on
127.0.0.1 in the root namespace, where a host cannot reach them, so each host gets one
forwarder per service, bound to its link's root address: `TcpProxy` (tests/faults/proxy.py,
an asyncio TCP forwarder in a thread of the test). Cutting a host takes its link down in
the root namespace: its packets go nowhere, no connection is reset, exactly like a
machine whose network cable is pulled; healing brings the link up again.

Needs root (namespaces, links). Everything made is removed on the way out, also when the
test fails: the namespaces (which takes their veth ends and the peers with them) and the
forwarders.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import pytest

from tests.faults.proxy import TcpProxy


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def require_root_and_iproute2() -> None:
    if os.geteuid() != 0:
        pytest.skip("the multi-host test makes network namespaces: it needs root")
    if shutil.which("ip") is None:
        pytest.skip("the multi-host test needs iproute2's `ip` (apt-get install iproute2)")


def free_subnet() -> str:
    """A 10.x.y.0/24 no interface of the machine uses: `10.x.y.` ."""
    used = subprocess.run(["ip", "-4", "addr"], capture_output=True, text=True, check=True).stdout
    while True:
        prefix = f"10.{random.randint(100, 250)}.{random.randint(0, 255)}."
        if prefix not in used:
            return prefix


@dataclass
class Host:
    name: str
    namespace: str
    root_link: str
    root_address: str
    address: str
    forwarders: dict[int, TcpProxy] = field(default_factory=dict)
    """service port on 127.0.0.1 -> its forwarder on this host's link."""

    def reach(self, port: int) -> tuple[str, int]:
        """How this host reaches the root namespace's 127.0.0.1:`port`."""
        return self.root_address, self.forwarders[port].port

    def command(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.namespace, *argv]

    def cut(self) -> None:
        ip("link", "set", self.root_link, "down")

    def heal(self) -> None:
        ip("link", "set", self.root_link, "up")


@contextmanager
def hosts(names: list[str], service_ports: list[int]) -> Iterator[dict[str, Host]]:
    """A namespace per name, linked to the root namespace, with forwarders to the
    services; all removed at the end."""
    tag = uuid.uuid4().hex[:6]
    subnet = free_subnet()
    made: dict[str, Host] = {}
    with ExitStack() as cleanup:
        for index, name in enumerate(names):
            host = Host(
                name,
                namespace=f"imgflow-{tag}-{name}",
                root_link=f"v{tag}{index}r",
                root_address=f"{subnet}{4 * index + 1}",
                address=f"{subnet}{4 * index + 2}",
            )
            ip("netns", "add", host.namespace)
            cleanup.callback(ip, "netns", "del", host.namespace)
            link_host(host, f"v{tag}{index}h")
            for port in service_ports:
                proxy = TcpProxy("127.0.0.1", port, listen_host=host.root_address)
                proxy.start()
                cleanup.callback(proxy.stop)
                host.forwarders[port] = proxy
            made[name] = host
        yield made


def link_host(host: Host, host_link: str) -> None:
    ip("link", "add", host.root_link, "type", "veth", "peer", "name", host_link)
    ip("link", "set", host_link, "netns", host.namespace)
    ip("addr", "add", f"{host.root_address}/30", "dev", host.root_link)
    ip("link", "set", host.root_link, "up")
    inside = ["-n", host.namespace]
    ip(*inside, "addr", "add", f"{host.address}/30", "dev", host_link)
    ip(*inside, "link", "set", host_link, "up")
    ip(*inside, "link", "set", "lo", "up")
