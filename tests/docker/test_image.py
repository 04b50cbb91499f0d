"""What the image holds, looked at inside it: issue 13's size budget, the locked
packages' extension modules stripped yet loading, and a fresh .pyc beside every module
they ship (the image's user could not write one, so a missing one is compiled again at
every start)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.docker.engine import Docker

ROOT = Path(__file__).resolve().parents[2]
BUDGET_MB = 60  # issue 13: what the image adds on top of its Python base

pytestmark = pytest.mark.timeout(300)

# Run by the image's own python, as its user, with no network. For each distribution
# of the lock: every .so has no debug section and no static symbol table, and loads;
# every .py has its .pyc, whose header matches the source (no start compiles it again).
INSPECT = r"""
import ctypes, importlib, importlib.metadata as md, importlib.util, json, os, struct, sys

def sections(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b"\x7fELF" and data[4] == 2, path  # 64-bit: amd64 and arm64
    end = "<" if data[5] == 1 else ">"
    shoff, = struct.unpack_from(end + "Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", data, 0x3A)
    def header(i):
        return struct.unpack_from(end + "IIQQQQ", data, shoff + i * shentsize)
    names = header(shstrndx)[4]
    return [data[names + header(i)[0]:data.index(b"\0", names + header(i)[0])].decode()
            for i in range(shnum)]

report = {"so": 0, "py": 0, "unstripped": [], "unloadable": [], "stale": []}
for name in json.loads(sys.argv[1]):
    dist = md.distribution(name)
    for file in dist.files or []:
        path = str(file.locate())
        if ".so" in file.name:
            report["so"] += 1
            kept = [s for s in sections(path) if s.startswith(".debug") or s == ".symtab"]
            if kept:
                report["unstripped"].append([path, kept])
            try:
                ctypes.CDLL(path)
            except OSError as error:
                report["unloadable"].append([path, str(error)])
        elif file.suffix == ".py" and os.path.exists(path):
            report["py"] += 1
            cached = importlib.util.cache_from_source(path)
            source = os.stat(path)
            try:
                with open(cached, "rb") as f:
                    magic, flags, mtime, size = struct.unpack("<4sIII", f.read(16))
            except OSError:
                report["stale"].append([path, "no .pyc"])
                continue
            fresh = (magic == importlib.util.MAGIC_NUMBER and flags == 0
                     and mtime == int(source.st_mtime) & 0xFFFFFFFF
                     and size == source.st_size & 0xFFFFFFFF)
            if not fresh:
                report["stale"].append([path, "stale .pyc"])
print(json.dumps(report))
"""


def locked() -> list[str]:
    text = (ROOT / "requirements.lock").read_text()
    return re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", text, re.MULTILINE)


def test_the_image_adds_at_most_its_budget(
    docker: Docker, image: str, base_images: dict[str, str]
) -> None:
    def size(tag: str) -> int:
        return int(docker("image", "inspect", "--format", "{{.Size}}", tag).stdout)

    added = (size(image) - size(base_images["python"])) / 1e6
    assert added <= BUDGET_MB, f"the image adds {added:.1f} MB to its base"


def test_locked_packages_are_stripped_load_and_keep_fresh_pyc(docker: Docker, image: str) -> None:
    names = [*locked(), "awsme"]  # the locked packages, then the wheel of the code
    assert "asyncpg" in names and "uvicorn" in names
    output = docker(
        "run", "--rm", "--network", "none", image, "python", "-c", INSPECT, json.dumps(names)
    ).stdout
    report = json.loads(output)
    assert report["so"] >= 20 and report["py"] >= 1000, report
    assert report["unstripped"] == [], "debug symbols left in the image"
    assert report["unloadable"] == []
    assert report["stale"] == []
