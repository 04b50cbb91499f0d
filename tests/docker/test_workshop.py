"""docs/containers.md, sections 1 and 3 to 6, replayed on a real Docker engine: build and
push, db + backend + frontend, notes on a volume across database restarts, the user, the
overlay2 copy-up, a memory limit, a read-only root filesystem, a graceful stop, and host
networking. The checks are what a student would look at."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from awsme.version import VERSION
from tests.docker.engine import Docker
from tests.docker.walkthrough import Walkthrough, names_created, wait_for
from tests.docs_commands import docker_commands_by_section

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "containers.md"
SECTIONS = docker_commands_by_section(DOCS)
BUILD = SECTIONS["1. Build the image and push it to Amazon ECR"]
RUN = [
    command
    for title, commands in SECTIONS.items()
    if title.split(".")[0] in ("3", "4", "5", "6")
    for command in commands
]
HOST_PORTS = (3307, 8090, 8091)  # what the host-networking section listens on

pytestmark = pytest.mark.timeout(1200)


@pytest.fixture
def created(docker: Docker) -> Iterator[None]:
    """The walkthrough names its containers, network and volume; none may exist before,
    and exactly those are removed after (whatever state the test failed in)."""
    names = sorted(set(names_created(RUN)))
    for kind, name in names:
        probe = docker(kind, "inspect", name, check=False)
        assert probe.returncode != 0, f"a {kind} named {name!r} exists already; remove it first"
    yield
    for kind, name in names:
        if kind == "container":
            docker("rm", "--force", "--volumes", name, check=False)
    for kind, name in names:
        if kind != "container":
            docker(kind, "rm", name, check=False)


def note(frontend: str, text: str) -> None:
    answer = httpx.post(f"{frontend}/add-note", json={"Note": text}, timeout=15)
    assert (answer.status_code, answer.text) == (200, "Ok\n")


def test_the_walkthrough_names_what_it_builds_and_runs() -> None:
    assert BUILD == [
        "docker build -t $IMAGE .",
        "docker run --rm $IMAGE app -version",
        "docker push $IMAGE",
    ]
    every = [command for commands in SECTIONS.values() for command in commands]
    assert "docker network create awsme" in every
    assert any("-m 128MB" in command for command in every)


def test_build_check_and_push(docker: Docker, image: str, tmp_path: Path) -> None:
    """Section 1 against a registry on 127.0.0.1 instead of ECR (the login is AWS's)."""
    walk = Walkthrough(docker, BUILD, {"IMAGE": image}, ROOT)
    walk.run("docker build -t $IMAGE .", timeout=900)
    assert walk.run("docker run --rm $IMAGE app -version") == f"Version {VERSION}\n"
    walk.run("docker push $IMAGE")
    walk.done()
    digest = docker("image", "inspect", "--format", "{{index .RepoDigests 0}}", image).stdout
    assert digest.startswith(image.rsplit(":", 1)[0] + "@sha256:")


def test_docker_run_walkthrough(
    docker: Docker, runnable_image: str, created: None, tmp_path: Path
) -> None:
    for port in HOST_PORTS:
        probe = subprocess.run(["ss", "-Htln", f"sport = :{port}"], capture_output=True)
        assert not probe.stdout.strip(), f"port {port} is taken on this machine"
    (tmp_path / "home").mkdir()
    walk = Walkthrough(docker, RUN, {"IMAGE": runnable_image, "HOME": str(tmp_path / "home")},
                       tmp_path)  # fmt: skip

    # 3. db, then the backend (it comes up before its database and waits for it by
    # itself), a one-off migration, the frontend.
    walk.run("docker network create awsme")
    walk.run("docker run --rm --name db --network awsme")
    walk.run("docker run --rm --name backend --network awsme")
    backend = walk.url(8081)
    wait_for(backend + "healthz")
    migrated = walk.run("docker run --rm --network awsme $IMAGE app -run-migrations")
    assert migrated.strip(), "the migration prints the schema's revision"
    walk.run("docker run --rm --name frontend --network awsme")
    frontend = walk.url(8080).rstrip("/")
    listed = walk.run("docker ps")
    for name in ("db", "backend", "frontend"):
        assert f" {name}\n" in listed or listed.endswith(f" {name}"), listed
    wait_for(frontend + "/healthz")
    backend_ip = docker(
        "inspect", "--format", "{{.NetworkSettings.Networks.awsme.IPAddress}}", "backend"
    ).stdout.strip()
    assert backend_ip.count(".") == 3
    card = httpx.get(frontend + "/", timeout=10).text
    assert backend_ip in card, "the card shows the backend's container IP"
    note(frontend, "first-note-lost-with-its-container")
    wait_for(frontend + "/?fresh=1", contains="first-note-lost-with-its-container")

    # 4. The database goes, the card stays; a database on a volume keeps the notes.
    walk.run("docker stop db")
    wait_for(backend + "healthz", status=503, timeout=30)
    assert httpx.get(frontend + "/", timeout=10).status_code == 200
    walk.run("docker run --rm --name db --network awsme -v $HOME/mysql_data:/var/lib/mysql")
    walk.run("docker stop backend")
    walk.run("docker run --rm --name backend --network awsme")
    wait_for(backend + "healthz")
    wait_for(frontend + "/healthz")
    card = httpx.get(frontend + "/?fresh=1", timeout=10)
    assert "first-note-lost-with-its-container" not in card.text
    note(frontend, "kept-on-the-volume")
    walk.run("docker stop db")
    wait_for(backend + "healthz", status=503, timeout=30)
    walk.run("docker run --rm --name db --network awsme -v $HOME/mysql_data:/var/lib/mysql")
    wait_for(backend + "healthz")  # the same backend: no restart
    wait_for(frontend + "/?fresh=1", contains="kept-on-the-volume")

    # 5. Inside: the user, the copy-up into the container's own layer, a memory limit,
    # a read-only root filesystem, a graceful stop.
    assert walk.run("docker exec backend id -u").strip() == "10001"
    walk.run("docker exec --user root backend sh -c")
    assert "C /etc/motd" in walk.run("docker diff backend").splitlines()
    upper = Path(walk.run("docker inspect --format '{{.GraphDriver.Data.UpperDir}}' backend")
                 .strip())  # fmt: skip
    assert "edited in a running container" in (upper / "etc" / "motd").read_text()

    walk.run("docker stop backend")
    walk.run("docker run --rm --name backend --network awsme -m 128MB")
    wait_for(backend + "healthz")
    limit = 128 * 1024 * 1024
    assert walk.run("docker exec backend sh -c").strip() == str(limit)
    assert "backend" in walk.run("docker stats --no-stream backend")
    container_id = docker("inspect", "--format", "{{.Id}}", "backend").stdout.strip()
    cgroup = Path("/sys/fs/cgroup/memory/docker") / container_id / "memory.limit_in_bytes"
    if not cgroup.exists():  # cgroup v2
        cgroup = Path("/sys/fs/cgroup/system.slice") / f"docker-{container_id}.scope/memory.max"
    assert cgroup.read_text().strip() == str(limit)
    instance = httpx.get(backend + "api/v1/instance", timeout=10).json()
    assert instance["container"]["memory_limit_bytes"] == limit
    wait_for(frontend + "/", contains="128 MiB")

    walk.run("docker volume create awsme-data")
    walk.run("docker run --rm --name card --read-only -v awsme-data:/data")
    card_url = walk.url(8082).rstrip("/")
    wait_for(card_url + "/healthz")
    note(card_url, "written-to-the-data-volume")
    assert docker("inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", "card").stdout == (
        "true\n"
    )
    assert "awsme-notes.db" in walk.run("docker exec card ls /data").split()
    walk.run("docker stop card")
    walk.run("docker volume rm awsme-data")

    graceful_stop(walk)

    # 6. Host networking: the host's own ports, the notes of the volume.
    walk.run("docker stop frontend backend db")
    walk.run("docker run --rm --name db --network host")
    walk.run("docker run --rm --name backend --network host")
    walk.run("docker run --rm --name frontend --network host")
    wait_for("http://127.0.0.1:8091/healthz")
    wait_for("http://127.0.0.1:8090/", contains="kept-on-the-volume")
    listening = subprocess.run(["ss", "-Htln"], capture_output=True, text=True).stdout
    for port in HOST_PORTS:  # on the host's network, but on loopback only
        bound = [
            line.split()[3]
            for line in listening.splitlines()
            if line.split()[3].endswith(f":{port}")
        ]
        assert bound and all(address.startswith("127.0.0.1:") for address in bound), bound
    walk.run("docker stop frontend backend db")
    walk.run("docker network rm awsme")
    walk.done()


def graceful_stop(walk: Walkthrough) -> None:
    """`docker stop` of a backend serving slow requests: each one finishes with 200, the
    container exits 0 well within Docker's 10 s, and its log says that it drained."""
    walk.run("docker run --name busy")
    busy = walk.url(8083).rstrip("/")
    wait_for(busy + "/healthz")
    switched = httpx.post(busy + "/chaos/latency?ms=3000", timeout=5)
    assert switched.status_code == 200, switched.text
    statuses: list[int | str] = []

    def slow_request() -> None:
        try:
            statuses.append(httpx.get(busy + "/", timeout=20).status_code)
        except httpx.HTTPError as error:
            statuses.append(repr(error))

    requests = [threading.Thread(target=slow_request) for _ in range(3)]
    for request in requests:
        request.start()
    time.sleep(1)  # all three are in the backend's hands
    started = time.monotonic()
    walk.run("docker stop busy")
    stopped_in = time.monotonic() - started
    for request in requests:
        request.join()
    assert statuses == [200, 200, 200]
    assert stopped_in < 8, f"docker stop took {stopped_in:.1f}s"
    assert walk.run("docker inspect --format '{{.State.ExitCode}}' busy").strip() == "0"
    logs = walk.run("docker logs busy", stderr=True)
    assert "draining" in logs, logs
    walk.run("docker rm -v busy")
