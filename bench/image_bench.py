"""`make bench-image`: the image on a real Docker engine. Its size and what it adds on top
of its Python base; the build from nothing, again with no change, and after a change to
the code; and for each role, the time from `docker run` to the first 200 on /readyz.

Base images: the real ones if present, else the stand-ins of tests/docker (built from
Debian's packages: a different base than python:3.11-slim, so compare the added size,
not the total). Results go to build/bench/image.json.
"""

from __future__ import annotations

import json
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.docker import standins  # noqa: E402 - the repository's own test helpers
from tests.docker.engine import LABEL, Docker, unavailable  # noqa: E402
from tests.processes import free_port  # noqa: E402

OUT = ROOT / "build" / "bench"
RUN = secrets.token_hex(4)
TAG = f"awsme-bench/image:{RUN}"
NETWORK = f"awsme-bench-{RUN}"
STARTS = 5  # runs per role; the median is reported


def timed(docker: Docker, *args: str) -> float:
    started = time.monotonic()
    docker(*args, timeout=1800)
    return time.monotonic() - started


def build_times(docker: Docker, context: Path) -> dict[str, float]:
    cold = timed(docker, "build", "--no-cache", "-t", TAG, str(context))
    warm = timed(docker, "build", "-t", TAG, str(context))
    version = context / "src" / "awsme" / "version.py"
    version.write_text(version.read_text() + f"# {RUN}\n")  # a change to the code only
    changed = timed(docker, "build", "-t", TAG, str(context))
    return {"cold_s": cold, "warm_no_change_s": warm, "warm_code_change_s": changed}


def run(docker: Docker, name: str, args: list[str], port: int) -> None:
    """A container of the image on the bench's network; args end with the port to publish.
    Metadata is `local`: never a packet off this machine."""
    docker("run", "-d", "--rm", "--name", name, "--network", NETWORK,
           "--label", f"{LABEL}={RUN}", "-e", "AWSME_METADATA=local",
           "-p", f"127.0.0.1:{port}:{args[-1]}", TAG, *args[:-1], timeout=60)  # fmt: skip


def ready_after(docker: Docker, args: list[str], port: int) -> float:
    """Seconds from `docker run` to the first 200 on /readyz of the published port (the
    simulator, which has no probes: its instance id)."""
    path = "/latest/meta-data/instance-id" if "-mode=imds" in args else "/readyz"
    name = f"awsme-bench-{RUN}-{secrets.token_hex(2)}"
    started = time.monotonic()
    run(docker, name, args, port)
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            if time.monotonic() - started > 60:
                raise RuntimeError(f"{args} not ready in 60 s")
            time.sleep(0.02)
    finally:
        docker("rm", "--force", name, check=False)


def start_times(docker: Docker) -> dict[str, float]:
    """The frontend's backend runs throughout, on the bench's network."""
    backend = f"awsme-bench-{RUN}-backend"
    run(docker, backend, ["app", "-mode=backend", "-port=8081", "8081"], free_port())
    roles = {
        "backend": ["app", "-mode=backend", "-port=8081", "8081"],
        "backend_2_workers": ["app", "-mode=backend", "-port=8081", "-workers=2", "8081"],
        "frontend": ["app", "-mode=frontend", f"-backend-service=http://{backend}:8081",
                     "8080"],
        "standalone": ["app", "-mode=standalone", "8080"],
        "imds": ["app", "-mode=imds", "-port=1338", "-host=0.0.0.0", "1338"],
    }  # fmt: skip
    try:
        return {
            role: statistics.median(ready_after(docker, args, free_port()) for _ in range(STARTS))
            for role, args in roles.items()
        }
    finally:
        docker("rm", "--force", backend, check=False)


def main() -> int:
    reason = unavailable()
    if reason:
        print(f"bench-image: {reason}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="awsme-bench-") as home:
        docker = Docker(Path(home))
        base = standins.ensure(docker)["python"]
        context = Path(home) / "context"
        context.mkdir()
        for name in ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md",
                     "requirements.lock"):  # fmt: skip
            shutil.copy(ROOT / name, context / name)
        shutil.copytree(ROOT / "src", context / "src",
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))  # fmt: skip
        try:
            builds = build_times(docker, context)
            docker("network", "create", "--label", f"{LABEL}={RUN}", NETWORK)
            size = int(docker("image", "inspect", "--format", "{{.Size}}", TAG).stdout)
            base_size = int(docker("image", "inspect", "--format", "{{.Size}}", base).stdout)
            starts = start_times(docker)
        finally:
            docker("network", "rm", NETWORK, check=False)
            docker("rmi", TAG, check=False)
    results = {
        "base": base,
        "image_mb": round(size / 1e6, 1),
        "base_mb": round(base_size / 1e6, 1),
        "added_mb": round((size - base_size) / 1e6, 1),
        "build": {key: round(value, 1) for key, value in builds.items()},
        "start_to_ready_s": {key: round(value, 2) for key, value in starts.items()},
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "image.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
