"""The shell commands of the walkthroughs in docs/, as a reader would copy them."""

from __future__ import annotations

import re
from pathlib import Path

FENCE = re.compile(r"^ *```(\w*)\n(.*?)^ *```", re.MULTILINE | re.DOTALL)
SECTION = re.compile(r"^## ", re.MULTILINE)


def shell_commands(markdown: str) -> list[str]:
    """Each command of the text's sh blocks, continuation lines joined."""
    commands = []
    for language, body in FENCE.findall(markdown):
        if language in ("sh", "shell", "bash"):
            joined = body.replace("\\\n", " ")
            commands += [" ".join(line.split()) for line in joined.splitlines() if line.strip()]
    return commands


def page_commands(page: Path) -> list[str]:
    return shell_commands(page.read_text())


def docker_commands_by_section(page: Path) -> dict[str, list[str]]:
    """'## N. Title' -> the `docker ...` commands of that section, in order."""
    found = {}
    for section in SECTION.split(page.read_text())[1:]:
        title = section.splitlines()[0].strip()
        found[title] = [c for c in shell_commands(section) if c.startswith("docker ")]
    return found
