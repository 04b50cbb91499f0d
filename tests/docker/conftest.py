"""Fixtures of the container tests: the engine, the base images, a local registry and
the project image, built once per run. In CI they fail when no engine can run."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.docker import standins
from tests.docker.engine import LABEL, Docker, unavailable
from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
RUN = secrets.token_hex(4)  # names what this run creates


@pytest.fixture(scope="session")
def docker(tmp_path_factory: pytest.TempPathFactory) -> Docker:
    reason = unavailable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"the container tests must run in CI: {reason}")
        pytest.skip(reason)
    return Docker(tmp_path_factory.mktemp("docker"))


@pytest.fixture(scope="session")
def base_images(docker: Docker) -> dict[str, str]:
    return standins.ensure(docker)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's docker-registry, a real image registry, on 127.0.0.1."""
    folder = tmp_path_factory.mktemp("registry")
    address = f"127.0.0.1:{free_port()}"
    config = folder / "config.yml"
    config.write_text(
        "version: 0.1\n"
        f"storage:\n  filesystem:\n    rootdirectory: {folder / 'storage'}\n"
        f"http:\n  addr: {address}\n"
        "log:\n  level: warn\n"
    )
    log = (folder / "registry.log").open("wb")
    process = subprocess.Popen(
        ["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(f"http://{address}/v2/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, (folder / "registry.log").read_text()
            assert time.monotonic() < deadline, "docker-registry did not answer"
            time.sleep(0.1)
        yield address
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture(scope="session")
def image(docker: Docker, base_images: dict[str, str], registry: str) -> Iterator[str]:
    """The project image, built here once; later builds of the same files (the docs',
    the buildspec's, Compose's) are answered from BuildKit's cache."""
    tag = f"{registry}/awsme:test-{RUN}"
    docker("build", "-t", tag, str(ROOT), timeout=900)
    yield tag
    docker("rmi", tag, check=False)


@pytest.fixture(scope="session")
def runnable_image(docker: Docker, image: str) -> Iterator[str]:
    """The project image with `-metadata=local` set in its environment: the tests
    substitute it for $IMAGE in `docker run` lines, so that a container never looks
    for a cloud metadata service (never a packet off this machine), wherever CI runs."""
    tag = f"awsme-test/runnable:{RUN}"
    docker(
        "build", "--label", f"{LABEL}={RUN}", "-t", tag, "-",
        input=f"FROM {image}\nENV AWSME_METADATA=local\n",
    )  # fmt: skip
    yield tag
    docker("rmi", tag, check=False)
