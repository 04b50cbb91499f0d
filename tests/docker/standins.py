"""Stand-in base images, made from Debian's packages, for a network with no image registry.

The Dockerfile, compose.yaml and the docs name official images (python, mysql, nginx).
Where one of those tags is already present (a laptop that pulled it), it is used as it
is. Where it is absent, a stand-in is built under exactly that tag, from a Debian root
filesystem made with debootstrap and `docker import`. They are cached by tag: later runs
find them and build nothing.

    python -m tests.docker.standins     # make whatever is missing
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml

from tests.docker.engine import LABEL, Docker

ROOT = Path(__file__).resolve().parents[2]
RECIPES = Path(__file__).resolve().parent / "standins"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
BASE = "awsme-standin/debian:{suite}"
# Which Debian suite each recipe starts from (see its Dockerfile).
SUITES = {"python": "bookworm", "mysql": "bookworm", "proxy": "sid"}


def python_tag() -> str:
    """The base image of the Dockerfile's stages, its ARG default filled in."""
    text = (ROOT / "Dockerfile").read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", text, re.MULTILINE))
    (image,) = set(re.findall(r"^FROM (?:--platform=\S+ )?(\S+)", text, re.MULTILINE))
    return re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)


def wanted() -> dict[str, str]:
    """recipe -> the tag the project's files name."""
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    return {
        "python": python_tag(),
        "mysql": services["db"]["image"],
        "proxy": services["proxy"]["image"],
    }


def ensure(docker: Docker, say: Callable[[str], None] = print) -> dict[str, str]:
    """Make every missing base image; returns recipe -> tag."""
    tags = wanted()
    for recipe, tag in tags.items():
        if docker.image_exists(tag):
            continue
        base = BASE.format(suite=SUITES[recipe])
        if not docker.image_exists(base):
            say(f"standins: debootstrap {SUITES[recipe]} -> {base}")
            import_root_filesystem(docker, SUITES[recipe], base)
        say(f"standins: building {tag} from {RECIPES / recipe}")
        with tempfile.TemporaryDirectory(prefix="awsme-standin-") as context:
            shutil.copytree(RECIPES / recipe, context, dirs_exist_ok=True)
            if CA_BUNDLE.exists():
                shutil.copy(CA_BUNDLE, Path(context) / "ca-certificates.crt")
            else:
                (Path(context) / "ca-certificates.crt").touch()
            docker("build", "--label", f"{LABEL}=standin", "-t", tag, context, timeout=900)
    return tags


def import_root_filesystem(docker: Docker, suite: str, tag: str) -> None:
    with tempfile.TemporaryDirectory(prefix=f"awsme-{suite}-") as folder:
        root = Path(folder) / "root"
        subprocess.run(
            ["debootstrap", "--variant=minbase", suite, str(root)],
            check=True,
            capture_output=True,
            timeout=900,
        )
        # The mirror this machine reaches may serve a frozen snapshot, whose Release
        # files are past their Valid-Until date: apt in the image must accept them.
        (root / "etc/apt/apt.conf.d/99awsme-standin").write_text(
            'Acquire::Check-Valid-Until "false";\n'
        )
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        assert tar.stdout is not None
        result = subprocess.run(
            [str(docker.bin / "docker"), "import", "--change", f"LABEL {LABEL}=standin",
             "-", tag],
            stdin=tar.stdout,
            env=docker.environ(),
            capture_output=True,
            text=True,
            timeout=600,
        )  # fmt: skip
        tar.stdout.close()
        if tar.wait() != 0 or result.returncode != 0:
            raise RuntimeError(f"docker import {tag} failed: {result.stderr}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as home:
        print(ensure(Docker(Path(home))))
