"""Which replica this process is: what a user watches change behind a load balancer."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

import psutil

from awsme.metadata.local import first_ipv4
from awsme.version import VERSION


@dataclass(frozen=True, slots=True)
class Replica:
    hostname: str  # in a container: the container id or the pod name
    pid: int
    version: str
    container_ip: str  # this network namespace's address, 127.0.0.1 when it has none


def replica_name(environ: Mapping[str, str]) -> str:
    """What X-Served-By says and the card shows: the pod's name (the downward API's
    POD_NAME), else the hostname (a container's id under Docker)."""
    return environ.get("POD_NAME", "").strip() or socket.gethostname()


def current_replica() -> Replica:
    """Read once per process (each worker has its own pid)."""
    return Replica(
        hostname=socket.gethostname(),
        pid=os.getpid(),
        version=VERSION,
        container_ip=first_ipv4(psutil.net_if_addrs()) or "127.0.0.1",
    )
