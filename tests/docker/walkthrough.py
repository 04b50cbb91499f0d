"""Replaying a walkthrough's `docker` lines on a real engine, in order, each once.

The commands are read from the docs, so that the docs and the tests cannot drift. Only
two things change on the way: `$IMAGE` is the image the test built (an environment
variable, as the reader sets it), and every published port is bound to 127.0.0.1, on a
free port of this machine.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx

from tests.docker.engine import Docker
from tests.processes import free_port

PUBLISH = re.compile(r"(?<!\S)-p (\d+):(\d+)(?!\S)")


class Walkthrough:
    def __init__(
        self, docker: Docker, commands: list[str], env: Mapping[str, str], cwd: Path
    ) -> None:
        self.docker = docker
        self.pending = list(commands)
        self.env = dict(env)
        self.cwd = cwd
        self.ports: dict[int, int] = {}  # documented host port -> the one used here

    def run(self, starts_with: str, timeout: float = 300, stderr: bool = False) -> str:
        """Run the next line of the docs, which must start with `starts_with`; its
        output (and its error output too, with `stderr`)."""
        assert self.pending, f"the docs have no more docker lines; expected {starts_with!r}"
        command = self.pending.pop(0)
        assert command.startswith(starts_with), (
            f"the docs changed: expected a line starting {starts_with!r}, found {command!r}"
        )
        result = self.docker.shell(self.on_loopback(command), self.env, self.cwd, timeout)
        if command.startswith("docker stop "):
            self.wait_removed(command.split()[2:])
        return result.stdout + (result.stderr if stderr else "")

    def wait_removed(self, names: list[str], timeout: float = 15) -> None:
        """`docker stop` returns once a container has stopped; one run with --rm is
        removed a moment later, and until then its name is taken. A reader typing the
        next line never notices; a script must wait."""
        deadline = time.monotonic() + timeout
        for name in names:
            while True:
                probe = self.docker("inspect", "--format", "{{.HostConfig.AutoRemove}}", name,
                                    check=False)  # fmt: skip
                if probe.returncode != 0 or probe.stdout.strip() == "false":
                    break
                assert time.monotonic() < deadline, f"{name} was not removed in {timeout}s"
                time.sleep(0.1)

    def on_loopback(self, command: str) -> str:
        def bind(match: re.Match[str]) -> str:
            documented = int(match.group(1))
            port = self.ports.setdefault(documented, free_port())
            return f"-p 127.0.0.1:{port}:{match.group(2)}"

        bound = PUBLISH.sub(bind, command)
        assert not re.search(r"(?<!\S)(-p|--publish)[ =](?!127\.0\.0\.1:)", bound), bound
        return bound

    def url(self, documented_port: int, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.ports[documented_port]}{path}"

    def done(self) -> None:
        assert not self.pending, f"docker lines of the docs that no test ran: {self.pending}"


def names_created(commands: list[str]) -> Iterator[tuple[str, str]]:
    """(kind, name) of every container, network and volume the lines create."""
    for command in commands:
        for name in re.findall(r"--name (\S+)", command):
            yield "container", name
        for kind in ("network", "volume"):
            for name in re.findall(rf"^docker {kind} create (\S+)", command):
                yield kind, name


def wait_for(
    url: str, status: int = 200, timeout: float = 90, contains: str | None = None
) -> httpx.Response:
    """Poll until the URL answers `status` (and has `contains` in its body)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(url, timeout=5)
            if answer.status_code == status and (contains is None or contains in answer.text):
                return answer
            last = f"{answer.status_code} {answer.text[:300]}"
        except httpx.TransportError as error:
            last = repr(error)
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer {status} in {timeout}s: {last}")
