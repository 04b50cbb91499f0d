"""The resource exercises (-chaos): CPU burned by real processes, memory really
resident, refusals, sharing through the group's state, and SIGTERM stopping both.
Burns stay short: this machine is shared."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from awsme.backend.app import create_backend_app
from awsme.ops.exercises import ResourceExercises, machine_cores, machine_memory_mb
from awsme.ops.group_state import GroupState
from tests.loopback import serve, wait_ready
from tests.ops.test_chaos import backend_settings
from tests.processes import APP, free_port, wait_until_ready


@pytest.fixture
def chaotic(tmp_path: Path) -> Iterator[str]:
    with serve(create_backend_app(backend_settings(tmp_path, chaos=True), {})) as server:
        wait_ready(server.url)
        yield server.url
        httpx.delete(server.url + "/chaos")


def wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def burners_of(pid: int) -> list[int]:
    """The awsme.ops.burn processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and b"awsme.ops.burn" in command:
            found.append(int(entry.name))
    return found


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize(
    "call",
    [
        "/chaos/cpu?percent=-5",
        "/chaos/cpu?percent=abc",
        "/chaos/cpu?percent=" + "9" * 400,
        "/chaos/cpu?percent=nan",
        f"/chaos/cpu?percent={machine_cores() * 100 + 1}",  # more than this machine has
        "/chaos/cpu?percent=10&seconds=0",
        "/chaos/cpu?percent=10&seconds=86400",
        "/chaos/memory",
        "/chaos/memory?mb=-1",
        "/chaos/memory?mb=1.5",
        "/chaos/memory?mb=" + "9" * 400,
        f"/chaos/memory?mb={machine_memory_mb() + 1}",
    ],
)
def test_absurd_exercises_are_refused_with_a_reason(chaotic: str, call: str) -> None:
    response = httpx.post(chaotic + call)
    assert response.status_code == 400 and response.json()["error"]
    state = httpx.get(chaotic + "/chaos").json()
    assert state["cpu"]["percent"] == 0 and state["memory"]["mb"] == 0


def test_cpu_burns_in_other_processes_and_ends_by_itself(chaotic: str) -> None:
    started = httpx.post(chaotic + "/chaos/cpu?percent=50&seconds=2")
    assert started.status_code == 200 and started.json()["cpu"]["percent"] == 50
    wait_for(lambda: len(burners_of(os.getpid())) == 1)
    (burner,) = burners_of(os.getpid())
    # The server keeps answering while it burns: the work is not on its event loop.
    assert httpx.get(chaotic + "/healthz").status_code == 200
    assert "burning 50% of a core" in " ".join(httpx.get(chaotic + "/").json()["Chaos"])
    wait_for(lambda: cpu_seconds(burner) > 0.3, timeout=5)
    wait_for(lambda: httpx.get(chaotic + "/chaos").json()["cpu"]["percent"] == 0)
    wait_for(lambda: burners_of(os.getpid()) == [])


def test_cpu_stops_when_deleted(chaotic: str) -> None:
    httpx.post(chaotic + "/chaos/cpu?percent=150&seconds=30")
    wait_for(lambda: len(burners_of(os.getpid())) == 2)  # 150% of a core: two processes
    assert httpx.delete(chaotic + "/chaos/cpu").json()["cpu"]["percent"] == 0
    wait_for(lambda: burners_of(os.getpid()) == [])


def test_memory_is_resident_until_deleted(chaotic: str) -> None:
    before = resident_mb()
    assert httpx.post(chaotic + "/chaos/memory?mb=64").status_code == 200
    wait_for(lambda: httpx.get(chaotic + "/chaos").json()["memory"]["held_mb"] == 64)
    assert resident_mb() - before > 56
    assert "holding 64 of 64 MB" in " ".join(httpx.get(chaotic + "/").json()["Chaos"])
    httpx.delete(chaotic + "/chaos/memory")
    wait_for(lambda: resident_mb() - before < 32)
    assert httpx.get(chaotic + "/chaos").json()["memory"]["mb"] == 0


def test_another_worker_stops_what_one_started(tmp_path: Path) -> None:
    """Two workers of one group: the shared state, not the worker, decides."""
    path = tmp_path / "group"
    path.write_bytes(b"\0" * 4096)
    environ = {"AWSME_GROUP_STATE_FILE": str(path)}
    first = ResourceExercises(GroupState.attach(environ))
    second = ResourceExercises(GroupState.attach(environ))
    first.start_memory(16)
    wait_for(lambda: second.state()["memory"]["held_mb"] == 16)
    second.stop_memory()
    wait_for(lambda: not any(t.is_alive() for t in first._threads))
    first.close()
    second.close()


def test_sigterm_stops_every_exercise(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [APP, "-mode=backend", "-chaos", "-metadata=simulated", f"-port={port}",
         "-host=127.0.0.1", f"-db-url=sqlite:///{tmp_path}/n.db", "-shutdown-delay=3"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(url + "/readyz", process)
        httpx.post(url + "/chaos/cpu?percent=20&seconds=60")
        httpx.post(url + "/chaos/memory?mb=16")
        wait_for(lambda: len(burners_of(process.pid)) == 1)
        process.send_signal(signal.SIGTERM)
        # Stopped at once, while the process still serves out its shutdown delay.
        wait_for(lambda: burners_of(process.pid) == [], timeout=2)

        def stopped() -> bool:
            state = httpx.get(url + "/chaos").json()
            return bool(state["cpu"]["percent"] == 0 and state["memory"]["mb"] == 0)

        wait_for(stopped, timeout=2)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
