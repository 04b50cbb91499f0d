"""docs/: every command block names files that exist and `app` command lines that the
program accepts. (The workshop's `docker` commands run for real in tests/docker.)"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from awsme.cli import parse_settings
from tests.docs_commands import page_commands as shell_commands

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "docs").glob("*.md"))


def app_command_lines(page: Path) -> list[list[str]]:
    found = []
    for command in shell_commands(page):
        words = shlex.split(command)
        while "app" in words:
            words = words[words.index("app") :]
            end = words.index("|") if "|" in words else len(words)
            found.append(words[:end])
            words = words[end:]
    return found


def test_there_is_a_walkthrough() -> None:
    assert ROOT / "docs" / "containers.md" in PAGES


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_app_command_is_accepted(page: Path) -> None:
    commands = app_command_lines(page)
    if page.name == "containers.md":
        assert commands, "the walkthrough runs the program"
    for words in commands:
        parse_settings(words[1:], {})  # raises UsageError on an unknown flag or a bad value


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_file_named_in_a_command_exists(page: Path) -> None:
    text = "\n".join(shell_commands(page)).replace("file://", "")
    named = set(re.findall(r"(?<![\w/.$-])((?:deploy|docs|src)/[\w./-]*[\w/])", text))
    named |= set(re.findall(r"\b(compose\.yaml|buildspec\.yml|Dockerfile)\b", text))
    assert named
    for path in named:
        assert (ROOT / path).exists(), path


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_commands_that_no_longer_exist_are_not_given(page: Path) -> None:
    for command in shell_commands(page):
        assert not re.search(r"aws ecr get-login(?!-password)", command), command
        # One region variable throughout, as in buildspec.yml.
        assert "$AWS_REGION" not in command and "${AWS_REGION" not in command
        assert not command.startswith("docker-compose "), "Compose v2 is `docker compose`"
