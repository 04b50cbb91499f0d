"""A few bytes that every worker of one process group shares: whether shutdown has
begun, and the chaos switches.

With -workers=N the parent creates a small file before the workers start and
names it in AWSME_GROUP_STATE_FILE (as PROMETHEUS_MULTIPROC_DIR names the
metrics' folder); each worker maps it into memory, so a switch flipped through
one worker, or the parent's own signal handler, is seen by every worker at its
next request. Nothing here depends on how the workers get their connections.
A single process keeps the same bytes in private memory.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import struct
import tempfile
from collections.abc import Iterator, Mapping
from typing import NamedTuple

ENVIRONMENT_VARIABLE = "AWSME_GROUP_STATE_FILE"
PROBES = ("healthz", "livez", "readyz")
# Probe switch values: failures left, or one of these.
PROBE_OFF = 0
PROBE_UNTIL_SWITCHED_BACK = -1

# The layout: draining (1 byte, then 3 of padding), then the chaos switches:
# latency in ms, error percent, and one value per probe in PROBES' order.
_DRAINING = struct.Struct("<?")
_SWITCHES = struct.Struct("<id3i")
_SWITCHES_OFFSET = 4
# Then the resource exercises (awsme.ops.exercises): CPU percent of a core, when the
# burn ends (time.time()), the pid of the worker burning; MB asked for, MB held so
# far, the pid of the worker holding them.
_EXERCISES = struct.Struct("<ddiiii")
_EXERCISES_OFFSET = 32
SIZE = mmap.PAGESIZE


class Switches(NamedTuple):
    latency_ms: int
    error_percent: float
    probes: tuple[int, int, int]


class Exercises(NamedTuple):
    cpu_percent: float = 0.0
    cpu_until: float = 0.0
    cpu_owner: int = 0
    memory_mb: int = 0
    memory_held_mb: int = 0
    memory_owner: int = 0


class GroupState:
    def __init__(self, memory: mmap.mmap, lock_fd: int | None = None) -> None:
        self._memory = memory
        self._lock_fd = lock_fd

    @classmethod
    def private(cls) -> GroupState:
        return cls(mmap.mmap(-1, SIZE))

    @classmethod
    def attach(cls, environ: Mapping[str, str] | None = None) -> GroupState:
        """The group's state when this process is one of its workers, else private."""
        environ = os.environ if environ is None else environ
        path = environ.get(ENVIRONMENT_VARIABLE)
        if not path:
            return cls.private()
        fd = os.open(path, os.O_RDWR)
        return cls(mmap.mmap(fd, SIZE), fd)

    # -- draining: written once, read by every /readyz -------------------------

    @property
    def draining(self) -> bool:
        (value,) = _DRAINING.unpack_from(self._memory, 0)
        return bool(value)

    def start_draining(self) -> None:
        # One byte: safe from a signal handler, and never torn.
        self._memory[0] = 1

    # -- chaos switches ----------------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive access across the group, for read-modify-write changes."""
        if self._lock_fd is None:
            yield
            return
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def switches(self) -> Switches:
        latency, percent, *probes = _SWITCHES.unpack_from(self._memory, _SWITCHES_OFFSET)
        return Switches(latency, percent, (probes[0], probes[1], probes[2]))

    def set_switches(self, switches: Switches) -> None:
        _SWITCHES.pack_into(
            self._memory,
            _SWITCHES_OFFSET,
            switches.latency_ms,
            switches.error_percent,
            *switches.probes,
        )

    def exercises(self) -> Exercises:
        return Exercises(*_EXERCISES.unpack_from(self._memory, _EXERCISES_OFFSET))

    def set_exercises(self, exercises: Exercises) -> None:
        _EXERCISES.pack_into(self._memory, _EXERCISES_OFFSET, *exercises)


@contextlib.contextmanager
def shared_by_workers() -> Iterator[GroupState]:
    """Create the group's file and name it in the environment the workers inherit
    (call in the parent before they start); removed when the group is done."""
    fd, path = tempfile.mkstemp(prefix="awsme-group-")
    try:
        os.ftruncate(fd, SIZE)
        os.environ[ENVIRONMENT_VARIABLE] = path
        yield GroupState(mmap.mmap(fd, SIZE), fd)
    finally:
        os.environ.pop(ENVIRONMENT_VARIABLE, None)
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
