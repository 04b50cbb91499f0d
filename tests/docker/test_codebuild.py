"""buildspec.yml's phases, run as CodeBuild runs them (one bash, in order), against this
engine and a registry on 127.0.0.1 set as REGISTRY, the buildspec's own variable. Then
what was pushed is pulled back and run."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from awsme.version import VERSION
from tests.docker.engine import Docker

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(900)


def phase_script(spec: dict[str, object]) -> str:
    """pre_build, build and post_build in one shell, stopping at the first failure (as
    `on-failure: ABORT` does), with the variables of the buildspec's env."""
    variables = spec["env"]["variables"]  # type: ignore[index]
    lines = ["set -eo pipefail"]
    lines += [f"export {name}={value}" for name, value in variables.items()]
    for phase in ("pre_build", "build", "post_build"):
        lines += spec["phases"][phase]["commands"]  # type: ignore[index]
    return "\n".join(lines)


def test_buildspec_builds_and_pushes_to_a_local_registry(
    docker: Docker, image: str, registry: str, tmp_path: Path
) -> None:
    spec = yaml.safe_load((ROOT / "buildspec.yml").read_text())
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.strip()  # fmt: skip
    # A tripwire: with REGISTRY set, no AWS call may happen.
    tripwire = tmp_path / "bin"
    tripwire.mkdir()
    (tripwire / "aws").write_text('#!/bin/sh\necho "aws was called: $*" >&2\nexit 97\n')
    (tripwire / "aws").chmod(0o755)
    env = {
        "REGISTRY": registry,
        "CODEBUILD_RESOLVED_SOURCE_VERSION": commit,
        "CODEBUILD_BUILD_SUCCEEDING": "1",
        "PATH": f"{tripwire}:{docker.environ()['PATH']}",
    }
    output = docker.shell(phase_script(spec), env, ROOT, timeout=900).stdout
    assert f"Version {VERSION}" in output, "the build phase runs the image it built"

    pushed = [f"{registry}/awsme:latest", f"{registry}/awsme:{commit[:7]}"]
    try:
        # Pulled back from the registry, not taken from the build's local tags.
        for tag in pushed:
            docker("rmi", tag)
        for tag in pushed:
            docker("pull", tag)
            version = docker("run", "--rm", tag, "app", "-version").stdout
            assert version == f"Version {VERSION}\n"
            labels = docker("image", "inspect", "--format",
                            "{{json .Config.Labels}}", tag).stdout  # fmt: skip
            assert f'"org.opencontainers.image.revision":"{commit}"' in labels
    finally:
        for tag in pushed:
            docker("rmi", tag, check=False)
