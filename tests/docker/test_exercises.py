"""docs/containers.md section 9 on a real engine: the resource exercises in a
container with -m and --cpus. The CPU burn is sized from the limit and throttled
above it, memory is held and given back, and memory above the limit ends in an OOM
kill that `docker inspect` reports. Burns stay a few seconds: the machine is shared."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.docker.engine import Docker
from tests.docker.walkthrough import Walkthrough, names_created, wait_for
from tests.docs_commands import docker_commands_by_section

ROOT = Path(__file__).resolve().parents[2]
EXERCISES = docker_commands_by_section(ROOT / "docs" / "containers.md")["9. Autoscaling on purpose"]

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def created(docker: Docker) -> Iterator[None]:
    names = sorted(set(names_created(EXERCISES)))
    assert names == [("container", "busy")]
    for kind, name in names:
        probe = docker(kind, "inspect", name, check=False)
        assert probe.returncode != 0, f"a {kind} named {name!r} exists already; remove it first"
    yield
    for _, name in names:
        docker("rm", "--force", name, check=False)


def until(check: str, url: str, test: object, timeout: float = 30) -> dict[str, object]:
    """Poll GET url until `test(json)` holds."""
    deadline = time.monotonic() + timeout
    while True:
        state: dict[str, object] = httpx.get(url, timeout=5).json()
        if callable(test) and test(state):
            return state
        assert time.monotonic() < deadline, f"{check}: {state}"
        time.sleep(0.3)


def test_cpu_and_memory_against_the_container_limits(
    docker: Docker, runnable_image: str, created: None, tmp_path: Path
) -> None:
    walk = Walkthrough(docker, EXERCISES, {"IMAGE": runnable_image}, tmp_path)
    walk.run("docker run --name busy -m 128MB --cpus 0.5 ")
    chaos = walk.url(8082, "/chaos")
    wait_for(walk.url(8082, "/readyz"))

    # Sized from the limit: half a core, in one burner process.
    sized = httpx.post(chaos + "/cpu?seconds=2", timeout=5).json()
    assert sized["cpu"]["percent"] == 50 and sized["cpu"]["limit_cores"] == 0.5
    until("the burn ends by itself", chaos, lambda s: s["cpu"]["percent"] == 0)

    # A whole core against half a core's quota: the kernel throttles it, and says so.
    before = httpx.get(chaos, timeout=5).json()["cpu"]["throttled_periods"]
    assert httpx.post(chaos + "/cpu?percent=100&seconds=4", timeout=5).status_code == 200
    card = httpx.get(walk.url(8082, "/"), timeout=5).json()["Chaos"]
    assert any(
        "burning 100% of a core" in line and "; limit 0.5 CPU, throttled" in line for line in card
    )
    stats = walk.run("docker stats --no-stream")
    assert stats.startswith("busy ") and "/ 128MiB" in stats
    until("throttled", chaos, lambda s: s["cpu"]["throttled_periods"] > before + 5)
    until("the burn ends by itself", chaos, lambda s: s["cpu"]["percent"] == 0)

    # Memory held, resident in the container's cgroup, and given back.
    idle = httpx.get(chaos, timeout=5).json()["memory"]["usage_bytes"]
    httpx.post(chaos + "/memory?mb=32", timeout=5)
    held = until("32 MB held", chaos, lambda s: s["memory"]["held_mb"] == 32)
    assert held["memory"]["limit_bytes"] == 128 * 2**20
    assert held["memory"]["usage_bytes"] - idle > 28 * 2**20
    card = httpx.get(walk.url(8082, "/"), timeout=5).json()["Chaos"]
    assert any("holding 32 of 32 MB" in line and "limit 128 MB" in line for line in card)
    httpx.delete(chaos + "/memory", timeout=5)
    until("given back", chaos, lambda s: s["memory"]["usage_bytes"] - idle < 16 * 2**20)

    # Above the limit: a real OOM kill.
    with contextlib.suppress(httpx.TransportError):  # the kill may come before the answer
        httpx.post(chaos + "/memory?mb=200", timeout=10)
    assert walk.run("docker wait busy", timeout=60).strip() == "137"
    assert walk.run("docker inspect --format").strip() == "true 137"
    walk.run("docker rm busy")
    walk.done()
