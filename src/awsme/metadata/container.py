"""The container this process runs in, and its limits, as the kernel sees them.

Read from /proc/self and the cgroup filesystem rather than asked of a runtime, so it
works the same under Docker, containerd, CRI-O, Podman and ECS, with no socket mounted.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from awsme.metadata.model import ContainerInfo

# The last segment of a cgroup path: "<64 hex>", "docker-<id>.scope",
# "cri-containerd-<id>.scope", "crio-<id>.scope", "libpod-<id>.scope".
_CGROUP_ID = re.compile(r"^(?:[a-z][a-z-]*-)?([0-9a-f]{64})(?:\.scope)?$")
# Fargate's task cgroups: /ecs/<task id>/<task id>-<number>.
_FARGATE_ID = re.compile(r"^[0-9a-f]{32}-\d+$")
# cgroup v2 hides the path inside a cgroup namespace, but the runtime's bind mounts of
# /etc/hostname and /etc/hosts still name the container's directory.
_MOUNT_ID = re.compile(r"containers/([0-9a-f]{64})/")
_RUNTIME_MOUNTS = frozenset({"/etc/hostname", "/etc/hosts", "/etc/resolv.conf"})
# cgroup v1 reports "unlimited" as the largest page-aligned 64-bit value (or near it).
_V1_UNLIMITED = 2**60


def read_container_info(
    cgroup_root: Path = Path("/sys/fs/cgroup"), proc_self: Path = Path("/proc/self")
) -> ContainerInfo:
    """Container id, cgroup version and limits; None for whatever cannot be read."""
    cgroups = _parse_cgroups(_read(proc_self / "cgroup"))
    container_id = _id_from_cgroups(cgroups) or _id_from_mountinfo(_read(proc_self / "mountinfo"))
    if os.path.exists(cgroup_root / "cgroup.controllers"):
        own = _own_dir(cgroup_root, cgroups.get(""))
        return ContainerInfo(
            container_id=container_id,
            cgroup_version=2,
            memory_limit_bytes=_v2_memory(_read(own / "memory.max")),
            cpu_limit_cores=_v2_cpu(_read(own / "cpu.max")),
        )
    memory_root = cgroup_root / "memory"
    cpu_root = next(
        (
            cgroup_root / name
            for name in ("cpu", "cpu,cpuacct")
            if os.path.isdir(cgroup_root / name)
        ),
        None,
    )
    if not os.path.isdir(memory_root) and cpu_root is None:
        return ContainerInfo(container_id=container_id)
    memory_dir = _own_dir(memory_root, cgroups.get("memory"))
    cpu_limit = None
    if cpu_root is not None:
        cpu_dir = _own_dir(cpu_root, cgroups.get("cpu"))
        cpu_limit = _v1_cpu(
            _read(cpu_dir / "cpu.cfs_quota_us"), _read(cpu_dir / "cpu.cfs_period_us")
        )
    return ContainerInfo(
        container_id=container_id,
        cgroup_version=1,
        memory_limit_bytes=_v1_memory(_read(memory_dir / "memory.limit_in_bytes")),
        cpu_limit_cores=cpu_limit,
    )


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except (OSError, ValueError):
        return None


def _parse_cgroups(text: str | None) -> dict[str, str]:
    """/proc/self/cgroup as {controller: path}; the v2 unified line is under ""."""
    cgroups: dict[str, str] = {}
    for line in (text or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if not controllers:
            cgroups[""] = path
        for controller in controllers.split(","):
            cgroups.setdefault(controller, path)
    return cgroups


def _id_from_cgroups(cgroups: dict[str, str]) -> str | None:
    for path in cgroups.values():
        segments = path.rstrip("/").split("/")
        last = segments[-1]
        match = _CGROUP_ID.match(last)
        # crio-conmon-<id> is CRI-O's monitor process, not the container.
        if match and "conmon" not in last:
            return match.group(1)
        if "ecs" in segments and _FARGATE_ID.match(last):
            return last
    return None


def _id_from_mountinfo(text: str | None) -> str | None:
    for line in (text or "").splitlines():
        fields = line.split()
        # id parent major:minor root mount-point ...
        if len(fields) >= 5 and fields[4] in _RUNTIME_MOUNTS:
            match = _MOUNT_ID.search(fields[3])
            if match:
                return match.group(1)
    return None


def _own_dir(root: Path, cgroup_path: str | None) -> Path:
    """This process's cgroup directory, or root when the path is not visible from here.

    Inside a cgroup namespace (or with the container's cgroup mounted as the root, as
    Docker does), /proc/self/cgroup names a path that does not exist under root.
    """
    relative = (cgroup_path or "").strip("/")
    if relative and os.path.isdir(root / relative):
        return root / relative
    return root


def _v2_memory(value: str | None) -> int | None:
    if value is None or value == "max":
        return None
    return _positive_int(value)


def _v2_cpu(value: str | None) -> float | None:
    """cpu.max is "<quota> <period>" in microseconds, or "max <period>" for no limit."""
    if value is None:
        return None
    parts = value.split()
    if not parts or parts[0] == "max":
        return None
    period = parts[1] if len(parts) > 1 else "100000"
    return _ratio(parts[0], period)


def _v1_memory(value: str | None) -> int | None:
    limit = _positive_int(value)
    if limit is None or limit >= _V1_UNLIMITED:
        return None
    return limit


def _v1_cpu(quota: str | None, period: str | None) -> float | None:
    if quota is None or period is None:
        return None
    return _ratio(quota, period)


def _ratio(quota: str, period: str) -> float | None:
    quota_us = _positive_int(quota)
    period_us = _positive_int(period)
    if quota_us is None or period_us is None:  # -1 means no quota
        return None
    return quota_us / period_us


def _positive_int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if number > 0 else None


def read_cgroup_usage(
    cgroup_root: Path = Path("/sys/fs/cgroup"), proc_self: Path = Path("/proc/self")
) -> dict[str, int | None]:
    """What the container uses now, beside its limits: memory in bytes, and how often
    and how long (µs) the CPU quota throttled it; None for what cannot be read."""
    cgroups = _parse_cgroups(_read(proc_self / "cgroup"))
    if os.path.exists(cgroup_root / "cgroup.controllers"):
        own = _own_dir(cgroup_root, cgroups.get(""))
        memory = _positive_int(_read(own / "memory.current"))
        stat = _stat(_read(own / "cpu.stat"))
        throttled_us = stat.get("throttled_usec")
    else:
        memory_dir = _own_dir(cgroup_root / "memory", cgroups.get("memory"))
        memory = _positive_int(_read(memory_dir / "memory.usage_in_bytes"))
        cpu_root = next(
            (cgroup_root / n for n in ("cpu", "cpu,cpuacct") if os.path.isdir(cgroup_root / n)),
            cgroup_root / "cpu",
        )
        stat = _stat(_read(_own_dir(cpu_root, cgroups.get("cpu")) / "cpu.stat"))
        throttled_ns = stat.get("throttled_time")
        throttled_us = None if throttled_ns is None else throttled_ns // 1000
    return {
        "memory_usage_bytes": memory,
        "cpu_periods": stat.get("nr_periods"),
        "cpu_throttled_periods": stat.get("nr_throttled"),
        "cpu_throttled_us": throttled_us,
    }


def _stat(text: str | None) -> dict[str, int]:
    """cpu.stat: "<key> <number>" per line."""
    values: dict[str, int] = {}
    for line in (text or "").splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            values[key] = int(value)
    return values
