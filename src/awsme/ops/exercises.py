"""`-chaos` resource exercises: burn CPU, hold memory, and show both beside the
container's cgroup limits and usage.

    POST   /chaos/cpu?percent=50&seconds=60   burn half a core for a minute
    DELETE /chaos/cpu                         stop burning
    POST   /chaos/memory?mb=100               hold 100 MB (touched: really resident)
    DELETE /chaos/memory                      let them go

The wanted state lives in the process group's shared memory (awsme.ops.group_state),
so any worker can start or stop an exercise; the worker that took the request does
the work, in a thread that re-reads the shared state every POLL seconds and stops
when the state no longer names it, when its time is up, or when shutdown begins.
Memory is held by the server process itself: above the container's limit the
kernel kills the server, which is the point (`docker inspect` says OOMKilled).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from awsme.metadata.container import read_cgroup_usage, read_container_info
from awsme.ops.group_state import Exercises as Wanted
from awsme.ops.group_state import GroupState

POLL = 0.2
MAX_CPU_SECONDS = 3600
DEFAULT_CPU_SECONDS = 60
CHUNK_MB = 8
PAGE = os.sysconf("SC_PAGE_SIZE")


def machine_memory_mb() -> int:
    return os.sysconf("SC_PHYS_PAGES") * PAGE // 2**20


def machine_cores() -> int:
    return len(os.sched_getaffinity(0))


class Refused(ValueError):
    """An exercise this machine cannot or should not do; the message says why."""


class ResourceExercises:
    def __init__(
        self,
        group: GroupState,
        stopping: Callable[[], bool] = lambda: False,
        cgroup_root: Path = Path("/sys/fs/cgroup"),
        proc_self: Path = Path("/proc/self"),
    ) -> None:
        self.group = group
        self.stopping = stopping
        self.cgroup_root = cgroup_root
        self.proc_self = proc_self
        self._threads: list[threading.Thread] = []
        self._closed = threading.Event()
        self._memory_generation = 0

    # -- limits -----------------------------------------------------------------

    def cpu_cores(self) -> float:
        """What the container may use: its CPU limit, else the machine's cores."""
        limit = read_container_info(self.cgroup_root, self.proc_self).cpu_limit_cores
        return min(limit, machine_cores()) if limit else float(machine_cores())

    # -- changes ----------------------------------------------------------------

    def _change(self, **fields: Any) -> Wanted:
        with self.group.locked():
            wanted = self.group.exercises()._replace(**fields)
            self.group.set_exercises(wanted)
            return wanted

    def start_cpu(self, percent: float | None, seconds: float | None) -> None:
        """Burn `percent` of one core for `seconds`. By default the burn fills the
        container's CPU limit; above it the kernel throttles (which the card shows),
        and nothing above what the machine's cores could give is accepted."""
        most = machine_cores() * 100
        percent = round(self.cpu_cores() * 100, 1) if percent is None else percent
        if not 0 < percent <= most:
            raise Refused(
                f"percent must be above 0 and at most {most} (100 per core of this machine)"
            )
        seconds = DEFAULT_CPU_SECONDS if seconds is None else seconds
        if not 0 < seconds <= MAX_CPU_SECONDS:
            raise Refused(f"seconds must be above 0 and at most {MAX_CPU_SECONDS}")
        until = time.time() + seconds
        self._change(cpu_percent=percent, cpu_until=until, cpu_owner=os.getpid())
        self._start(self._burn, percent, until)

    def stop_cpu(self) -> None:
        self._change(cpu_percent=0.0, cpu_until=0.0, cpu_owner=0)

    def start_memory(self, mb: float) -> None:
        most = machine_memory_mb()
        if not (float(mb).is_integer() and 0 < mb <= most):
            raise Refused(
                f"mb must be a whole number above 0 and at most {most} (this machine's RAM)"
            )
        self._memory_generation += 1  # a hold this process already runs lets go
        self._change(memory_mb=int(mb), memory_held_mb=0, memory_owner=os.getpid())
        self._start(self._hold, int(mb))

    def stop_memory(self) -> None:
        self._change(memory_mb=0, memory_held_mb=0, memory_owner=0)

    def stop_all(self) -> None:
        self.stop_cpu()
        self.stop_memory()

    def close(self, timeout: float = 5.0) -> None:
        """At shutdown: stop what this process runs, and wait for it."""
        self._closed.set()
        mine = os.getpid()
        wanted = self.group.exercises()
        if wanted.cpu_owner == mine:
            self.stop_cpu()
        if wanted.memory_owner == mine:
            self.stop_memory()
        for thread in self._threads:
            thread.join(timeout)

    # -- the work ---------------------------------------------------------------

    def _start(self, work: Callable[..., None], *args: Any) -> None:
        self._threads = [thread for thread in self._threads if thread.is_alive()]
        thread = threading.Thread(target=work, args=args, daemon=True, name=work.__name__)
        self._threads.append(thread)
        thread.start()

    def _still(self, check: Callable[[Wanted], bool]) -> bool:
        if self._closed.is_set() or self.stopping():
            return False
        return check(self.group.exercises())

    def _burn(self, percent: float, until: float) -> None:
        mine = os.getpid()

        def wanted(state: Wanted) -> bool:
            return state.cpu_owner == mine and state.cpu_until == until and time.time() < until

        count = max(math.ceil(percent / 100), 1)
        burners = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "awsme.ops.burn",
                    str(percent / 100 / count),
                    str(until),
                    str(mine),
                ]
            )
            for _ in range(count)
        ]
        try:
            while self._still(wanted):
                time.sleep(POLL)
        finally:
            for burner in burners:
                burner.terminate()
            for burner in burners:
                burner.wait()
            with self.group.locked():
                state = self.group.exercises()
                if state.cpu_owner == mine and state.cpu_until == until:
                    self.group.set_exercises(
                        state._replace(cpu_percent=0.0, cpu_until=0.0, cpu_owner=0)
                    )

    def _hold(self, mb: int) -> None:
        mine = os.getpid()
        generation = self._memory_generation

        def wanted(state: Wanted) -> bool:
            return (
                state.memory_owner == mine
                and state.memory_mb == mb
                and generation == self._memory_generation
            )

        held: list[bytearray] = []
        try:
            while len(held) * CHUNK_MB < mb and self._still(wanted):
                size = min(CHUNK_MB, mb - len(held) * CHUNK_MB) * 2**20
                chunk = bytearray(size)
                chunk[::PAGE] = b"\x01" * len(range(0, size, PAGE))  # touch every page
                held.append(chunk)
                self._change(memory_held_mb=min(len(held) * CHUNK_MB, mb))
            while self._still(wanted):
                time.sleep(POLL)
        finally:
            held.clear()
            with self.group.locked():
                state = self.group.exercises()
                if wanted(state):
                    self.group.set_exercises(
                        state._replace(memory_mb=0, memory_held_mb=0, memory_owner=0)
                    )

    # -- what shows ------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        wanted = self.group.exercises()
        info = read_container_info(self.cgroup_root, self.proc_self)
        usage = read_cgroup_usage(self.cgroup_root, self.proc_self)
        running_cpu = wanted.cpu_percent > 0 and wanted.cpu_until > time.time()
        return {
            "cpu": {
                "percent": wanted.cpu_percent if running_cpu else 0,
                "seconds_left": round(wanted.cpu_until - time.time()) if running_cpu else 0,
                "limit_cores": info.cpu_limit_cores,
                "throttled_periods": usage["cpu_throttled_periods"],
                "throttled_seconds": (
                    None if usage["cpu_throttled_us"] is None else usage["cpu_throttled_us"] / 1e6
                ),
            },
            "memory": {
                "mb": wanted.memory_mb,
                "held_mb": wanted.memory_held_mb,
                "limit_bytes": info.memory_limit_bytes,
                "usage_bytes": usage["memory_usage_bytes"],
            },
        }

    def describe(self) -> list[str]:
        """One line per exercise that runs, with the cgroup's live numbers."""
        wanted = self.group.exercises()
        if not (wanted.cpu_percent or wanted.memory_mb):
            return []  # the common case: no cgroup files read
        state = self.state()
        lines = []
        cpu, memory = state["cpu"], state["memory"]
        if cpu["percent"]:
            line = f"burning {cpu['percent']:g}% of a core, {cpu['seconds_left']} s left"
            if cpu["limit_cores"]:
                line += f"; limit {cpu['limit_cores']:g} CPU"
                if cpu["throttled_periods"] is not None:
                    line += (
                        f", throttled {cpu['throttled_periods']} times"
                        f" ({cpu['throttled_seconds']:.1f} s in all)"
                    )
            else:
                line += "; no CPU limit"
            lines.append(line)
        if memory["mb"]:
            limit = f"limit {_mb(memory['limit_bytes'])}" if memory["limit_bytes"] else "no limit"
            lines.append(
                f"holding {memory['held_mb']} of {memory['mb']} MB;"
                f" container memory {_mb(memory['usage_bytes'])}, {limit}"
            )
        return lines


def _mb(value: int | None) -> str:
    return "?" if value is None else f"{value / 2**20:.0f} MB"
