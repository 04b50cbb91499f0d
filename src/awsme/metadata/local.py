"""Metadata of a machine with no cloud metadata service: a laptop, a CI runner, kind."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping
from typing import Protocol

import psutil

from awsme.metadata.model import NO_EVENTS, InstanceEvents, InstanceMetadata

LOOPBACK_IPV4 = "127.0.0.1"


class _Address(Protocol):
    """The part of psutil's snicaddr that matters here."""

    @property
    def family(self) -> int: ...

    @property
    def address(self) -> str: ...


def first_ipv4(interfaces: Mapping[str, Iterable[_Address]]) -> str | None:
    """The first IPv4 address that another machine could use to reach this one.

    Link-local addresses count only when nothing better exists (a container with no
    routable network still has one).
    """
    fallback: str | None = None
    for addresses in interfaces.values():
        for entry in addresses:
            if entry.family != socket.AF_INET:
                continue
            try:
                address = ipaddress.IPv4Address(entry.address)
            except ValueError:
                continue
            if address.is_loopback or address.is_unspecified:
                continue
            if not address.is_link_local:
                return str(address)
            fallback = fallback or str(address)
    return fallback


class LocalSource:
    """Answers from the host itself, never touching the network."""

    name = "local"

    async def fetch(self) -> InstanceMetadata:
        try:
            interfaces: Mapping[str, Iterable[_Address]] = psutil.net_if_addrs()
        except OSError:
            interfaces = {}
        return InstanceMetadata(
            source="local",
            provider="local",
            local_hostname=socket.gethostname() or None,
            local_ipv4=first_ipv4(interfaces) or LOOPBACK_IPV4,
            local=True,
        )

    async def fetch_events(self) -> InstanceEvents:
        return NO_EVENTS

    async def aclose(self) -> None:
        return None
