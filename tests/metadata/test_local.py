"""LocalSource: the host's own name and address, with no network."""

from __future__ import annotations

import ipaddress
import socket
from typing import NamedTuple

import psutil

from awsme.metadata.local import LocalSource, first_ipv4
from awsme.metadata.model import NO_EVENTS
from awsme.metadata.source import MetadataSource


class Addr(NamedTuple):
    """The fields of psutil's snicaddr that first_ipv4 reads."""

    family: int
    address: str


def test_first_ipv4_skips_loopback_and_ipv6() -> None:
    interfaces = {
        "lo": [Addr(socket.AF_INET, "127.0.0.1"), Addr(socket.AF_INET6, "::1")],
        "eth0": [Addr(socket.AF_INET6, "fe80::1"), Addr(socket.AF_INET, "10.0.1.17")],
        "eth1": [Addr(socket.AF_INET, "192.168.7.2")],
    }
    assert first_ipv4(interfaces) == "10.0.1.17"


def test_link_local_only_when_nothing_else() -> None:
    assert first_ipv4({"eth0": [Addr(socket.AF_INET, "169.254.3.4")]}) == "169.254.3.4"
    interfaces = {
        "eth0": [Addr(socket.AF_INET, "169.254.3.4")],
        "eth1": [Addr(socket.AF_INET, "172.17.0.5")],
    }
    assert first_ipv4(interfaces) == "172.17.0.5"


def test_loopback_only_host_has_no_address() -> None:
    assert first_ipv4({"lo": [Addr(socket.AF_INET, "127.0.0.1")]}) is None
    assert first_ipv4({}) is None


async def test_fetch_describes_this_host() -> None:
    source: MetadataSource = LocalSource()
    metadata = await source.fetch()
    assert source.name == "local"
    assert metadata.source == "local"
    assert metadata.provider == "local"
    assert metadata.local is True
    assert metadata.local_hostname == socket.gethostname()
    assert metadata.local_ipv4 is not None
    ipv4 = ipaddress.IPv4Address(metadata.local_ipv4)
    host_ipv4s = {
        entry.address
        for entries in psutil.net_if_addrs().values()
        for entry in entries
        if entry.family == socket.AF_INET
    }
    assert metadata.local_ipv4 in host_ipv4s | {"127.0.0.1"}
    assert not ipv4.is_loopback or first_ipv4(psutil.net_if_addrs()) is None
    assert metadata.instance_id is None
    assert metadata.zone is None
    assert await source.fetch_events() == NO_EVENTS
    await source.aclose()
