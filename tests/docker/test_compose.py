"""compose.yaml, up for real with Docker Compose v2, driven by docs/containers.md's own
`docker compose` lines: every service turns healthy, the proxy spreads page loads over
both backends, a stopped backend and a restarted database are survived, and `down`
without -v keeps the notes. Then the docs' kind build line."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.docker.conftest import RUN
from tests.docker.engine import Docker
from tests.docker.walkthrough import Walkthrough, wait_for
from tests.docs_commands import docker_commands_by_section
from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = docker_commands_by_section(ROOT / "docs" / "containers.md")
COMPOSE = SECTIONS["7. Docker Compose"]
KUBERNETES = SECTIONS["8. Kubernetes"]
APP_SERVICES = ("migrate", "backend-1", "backend-2", "frontend")
HEALTHY = ("db", "backend-1", "backend-2", "proxy", "frontend")

pytestmark = pytest.mark.timeout(1200)


def override(frontend_port: int) -> str:
    """What this machine needs on top of compose.yaml: the card published on 127.0.0.1
    only, and the awsme containers told not to look for a cloud metadata service."""
    lines = ["services:"]
    for service in APP_SERVICES:
        lines += [f"  {service}:", "    environment:", "      AWSME_METADATA: local"]
        if service == "frontend":
            lines += ["    ports: !override", f'      - "127.0.0.1:{frontend_port}:8080"']
    return "\n".join(lines) + "\n"


@pytest.fixture
def project(
    docker: Docker, base_images: dict[str, str], tmp_path: Path
) -> Iterator[dict[str, str]]:
    port = free_port()
    (tmp_path / "override.yaml").write_text(override(port))
    env = {
        "COMPOSE_PROJECT_NAME": f"awsme-test-{RUN}",
        "COMPOSE_FILE": f"{ROOT / 'compose.yaml'}:{tmp_path / 'override.yaml'}",
        "IMAGE": f"awsme-test/compose:{RUN}",
        "FRONTEND": f"http://127.0.0.1:{port}",
    }
    yield env
    # Whatever the test left: its project's containers, networks and volumes, its image.
    docker.shell("docker compose down -v --timeout 5", env, ROOT)
    docker("rmi", env["IMAGE"], check=False)


def wait_healthy(docker: Docker, env: dict[str, str], timeout: float = 90) -> None:
    """Every service's health check passes (Docker's own state, not our probe)."""
    deadline = time.monotonic() + timeout
    while True:
        states = {}
        for service in HEALTHY:
            container = docker.shell(f"docker compose ps -q {service}", env, ROOT).stdout
            assert container.strip(), f"{service} has no container"
            states[service] = docker(
                "inspect", "--format", "{{.State.Health.Status}}", container.strip()
            ).stdout.strip()
        if set(states.values()) == {"healthy"}:
            return
        assert "unhealthy" not in states.values(), states
        assert time.monotonic() < deadline, f"not healthy in {timeout}s: {states}"
        time.sleep(1)


def backend_hostnames(docker: Docker, env: dict[str, str]) -> set[str]:
    """A container's hostname is the first 12 characters of its id."""
    return {
        docker.shell(f"docker compose ps -q {name}", env, ROOT).stdout.strip()[:12]
        for name in ("backend-1", "backend-2")
    }


def hostnames_on_cards(frontend: str, loads: int) -> list[str]:
    seen = []
    for _ in range(loads):
        card = httpx.get(frontend + "/", timeout=10)
        assert card.status_code == 200
        seen.append(card.text)
    return seen


def test_compose_up_and_down(docker: Docker, project: dict[str, str]) -> None:
    walk = Walkthrough(docker, COMPOSE, project, ROOT)
    frontend = project["FRONTEND"]
    volumes_before = set(docker("volume", "ls", "--quiet").stdout.split())
    walk.run("docker compose up --build -d", timeout=900)
    listed = walk.run("docker compose ps")
    for service in HEALTHY:
        assert service in listed
    wait_healthy(docker, project)
    wait_for(frontend + "/healthz")

    # Consecutive page loads reach both backends through the proxy.
    hostnames = backend_hostnames(docker, project)
    cards = hostnames_on_cards(frontend, 6)
    for hostname in hostnames:
        assert any(hostname in card for card in cards), f"{hostname} never answered"
    answer = httpx.post(f"{frontend}/add-note", json={"Note": "kept-by-compose"}, timeout=15)
    assert (answer.status_code, answer.text) == (200, "Ok\n")

    # One backend stopped: every page comes from the other one.
    walk.run("docker compose stop backend-1")
    survivor = docker.shell("docker compose ps -q backend-2", project, ROOT).stdout[:12]
    for card in hostnames_on_cards(frontend, 4):
        assert survivor in card
    walk.run("docker compose start backend-1")
    wait_for(frontend + "/healthz")

    walk.run("docker compose restart db", timeout=120)
    wait_for(frontend + "/?fresh=1", contains="kept-by-compose")

    # down keeps the volume: the notes are there after up.
    walk.run("docker compose down", timeout=120)
    walk.run("docker compose up -d", timeout=300)
    wait_healthy(docker, project)
    wait_for(frontend + "/?fresh=1", contains="kept-by-compose")
    walk.run("docker compose down -v", timeout=120)
    left = set(docker("volume", "ls", "--quiet").stdout.split()) - volumes_before
    assert not left, f"volumes left behind by down -v: {left}"
    walk.done()


def test_the_kind_section_builds_the_local_tag(docker: Docker, image: str) -> None:
    """Section 8's one docker line (the rest needs a cluster); the same files as the
    image fixture's, so BuildKit answers it from its cache."""
    walk = Walkthrough(docker, KUBERNETES, {}, ROOT)
    existed = docker.image_exists("awsme:local")
    try:
        walk.run("docker build -t awsme:local .", timeout=900)
        walk.done()
        built = docker("image", "inspect", "--format", "{{.Id}}", "awsme:local").stdout
        assert built == docker("image", "inspect", "--format", "{{.Id}}", image).stdout
    finally:
        if not existed:
            docker("rmi", "awsme:local", check=False)
