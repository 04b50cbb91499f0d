"""requirements.lock, which the image installs with --require-hashes, is current: it pins
every runtime requirement of pyproject.toml within its range, and everything those need,
at the versions this virtualenv runs the tests with (`make` installs it from the lock).
After a change to the dependencies: `make lock`."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+)(?: ; (.+?))? \\$", re.MULTILINE)


def locked() -> dict[str, tuple[str, Marker | None]]:
    text = (ROOT / "requirements.lock").read_text()
    pins = {}
    for name, version, marker in PIN.findall(text):
        pins[canonicalize_name(name)] = (version, Marker(marker) if marker else None)
    return pins


def runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(line) for line in project["dependencies"]]


def applies(marker: Marker | None, extras: set[str]) -> bool:
    if marker is None:
        return True
    return any(marker.evaluate({"extra": extra}) for extra in extras | {""})


def test_every_pin_has_hashes() -> None:
    entries = re.split(r"\n(?=\S)", (ROOT / "requirements.lock").read_text())
    pinned = [entry for entry in entries if "==" in entry.split("\n")[0]]
    assert len(pinned) == len(locked()) > 10
    for entry in pinned:
        assert "--hash=sha256:" in entry, entry.split()[0]


def test_pyproject_requirements_are_pinned_within_range() -> None:
    pins = locked()
    for requirement in runtime_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock: run `make lock`"
        version, _ = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{name}=={version} is outside {requirement.specifier}: run `make lock`"
        )


def test_the_lock_is_closed_and_is_what_the_tests_run() -> None:
    """Walk the requirements from pyproject.toml down through the installed packages'
    metadata: each one reached is pinned, and installed at its pinned version."""
    pins = locked()
    wanted: dict[str, set[str]] = {}
    queue = [(canonicalize_name(r.name), set(r.extras)) for r in runtime_requirements()]
    while queue:
        name, extras = queue.pop()
        if name in wanted and extras <= wanted[name]:
            continue
        wanted[name] = wanted.get(name, set()) | extras
        assert name in pins, f"{name} is needed but not in requirements.lock: run `make lock`"
        installed = metadata.version(name)
        assert installed == pins[name][0], (
            f"{name} {installed} is installed but {pins[name][0]} is locked: run `make` again"
        )
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            if applies(requirement.marker, wanted[name]):
                queue.append((canonicalize_name(requirement.name), set(requirement.extras)))
    unused = {name for name, (_, marker) in pins.items() if applies(marker, set())} - set(wanted)
    assert not unused, f"pinned but needed by nothing: {unused}: run `make lock`"
