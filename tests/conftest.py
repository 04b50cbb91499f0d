"""Fixtures shared by every test: the real simulator on loopback, settings, apps."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from awsme.imds import SimulatorState, create_imds_app, load_instance_data
from tests.databases import database, mariadb, server_database  # noqa: F401 - fixtures
from tests.loopback import LoopbackServer, serve

PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in its own folder (the embedded SQLite file lands there) and
    with no proxy variables, so that loopback traffic never goes to a proxy."""
    monkeypatch.chdir(tmp_path)
    for variable in PROXY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")


@pytest.fixture(autouse=True)
def restored_logging() -> Iterator[None]:
    """A test that runs the program in-process (`main([...])`) sets up logging on the
    stderr pytest lent it; later tests must not log to that closed stream."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@dataclass
class RunningSimulator:
    server: LoopbackServer
    app: Starlette

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def state(self) -> SimulatorState:
        state: SimulatorState = self.app.state.simulator
        return state

    def paths(self) -> list[str]:
        return [record["path"] for record in self.state.requests]


@pytest.fixture
def simulator_factory() -> Iterator[Any]:
    """Start simulators on loopback ports: `simulator_factory(require_token=True)`."""
    servers: list[LoopbackServer] = []

    def start(**options: Any) -> RunningSimulator:
        app = create_imds_app(load_instance_data(options.pop("data_path", None)), **options)
        server = LoopbackServer(app).start()
        servers.append(server)
        return RunningSimulator(server, app)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def simulator(simulator_factory: Any) -> RunningSimulator:
    simulator: RunningSimulator = simulator_factory()
    return simulator


__all__ = ["RunningSimulator", "serve"]
