"""The image without Docker: the wheel built as the Dockerfile builds it, installed as
its final stage installs it (into a fresh virtualenv), then the workshop's `docker run`
commands' `app ...` parts run against MariaDB on loopback, from a working directory
that must stay untouched (the image's root filesystem is read-only)."""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml

from awsme.version import VERSION
from tests.databases import mariadb_admin, unavailable
from tests.processes import free_port, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "containers.md"

# The workshop's commands, as docs/containers.md gives them (checked below).
MIGRATE = "app -run-migrations -db-host=db -db-password=root"
BACKEND = "app -mode=backend -run-migrations -port=8081 -db-host=db -db-password=root"
FRONTEND = "app -mode=frontend -backend-service=http://backend:8081"
# The host-networking exercise: everything on localhost, the database over TCP.
HOST_BACKEND = "app -mode=backend -run-migrations -port=8081 -db-host=localhost -db-password=root"
HOST_FRONTEND = "app -mode=frontend -backend-service=http://localhost:8081"

# Installing from the registry takes a while; everything else is quick.
pytestmark = pytest.mark.timeout(600)


def dockerfile_stages() -> list[list[str]]:
    stages: list[list[str]] = []
    for line in (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines():
        line = " ".join(line.split())
        if line.startswith("FROM "):
            stages.append([])
        if stages and line and not line.startswith("#"):
            stages[-1].append(line)
    return stages


@dataclass
class Installed:
    venv: Path
    wheel: Path
    workdir: Path  # read-only-like: nothing may appear in it
    env: dict[str, str] = field(default_factory=dict)

    @property
    def app(self) -> str:
        return str(self.venv / "bin" / "app")

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("image")
    build, final = dockerfile_stages()

    # The build stage: its COPY lines make the context, its RUN line makes the wheel.
    context = base / "src"
    context.mkdir()
    for line in build:
        if line.startswith("COPY "):
            *sources, destination = shlex.split(line)[1:]
            for source in sources:
                target = context / destination / (source if destination.endswith("/") else "")
                if (ROOT / source).is_dir():
                    shutil.copytree(
                        ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__")
                    )
                else:
                    shutil.copy(ROOT / source, target)
    (wheel_run,) = [line for line in build if line.startswith("RUN ")]
    wheel_command = shlex.split(wheel_run)[1:]
    assert wheel_command[:4] == ["python", "-m", "pip", "wheel"], wheel_command
    dist = base / "dist"
    wheel_command = [str(dist) if arg == "/dist" else arg for arg in wheel_command]
    subprocess.run(
        [sys.executable, *wheel_command[1:]], cwd=context, check=True, capture_output=True
    )
    (wheel,) = dist.glob("awsme-*.whl")

    # The final stage: the same pip install, into a fresh virtualenv.
    (install_run,) = [line for line in final if line.startswith("RUN ")]
    install = install_run.split("&&")[0].split("python -m pip install", 1)[1].split()
    assert install == ["--no-cache-dir", "/dist/*.whl"], install
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-cache-dir",
         str(wheel)],
        check=True,
        capture_output=True,
        timeout=540,
    )  # fmt: skip

    workdir = base / "workdir"
    workdir.mkdir()
    workdir.chmod(0o555)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWSME_", "AWS_", "ECS_", "GCE_", "KUBERNETES_", "VIRTUAL_ENV"))
    }
    # The image's ENV, and no way out of loopback.
    env.update(
        PATH=f"{venv / 'bin'}:/usr/bin:/bin",
        HOME=str(workdir),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUNBUFFERED="1",
        NO_PROXY="*",
        AWS_EC2_METADATA_DISABLED="true",
    )
    return Installed(venv=venv, wheel=wheel, workdir=workdir, env=env)


@dataclass
class Database:
    name: str


@pytest.fixture
def database() -> Iterator[Database]:
    try:
        mariadb_admin().close()
    except Exception as error:
        unavailable("mariadb", error)
    db = Database("awsme_t_" + secrets.token_hex(5))
    yield db
    with mariadb_admin() as connection, connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{db.name}`")


def on_loopback(command: str, database: Database, **ports: int) -> list[str]:
    """A workshop command as this machine runs it: `db` and `backend` are on
    127.0.0.1, MariaDB's root has no password, every test has its own database
    and ports, and metadata is simulated (never a packet off the machine)."""
    words = shlex.split(command)
    assert words[0] == "app"
    replaced = []
    for word in words:
        if word == "-db-host=db":
            word = "-db-host=127.0.0.1"
        elif word == "-db-password=root":
            word = "-db-password="
        elif word == "-port=8081":
            word = f"-port={ports['backend']}"
        elif word == "-backend-service=http://backend:8081":
            word = f"-backend-service=http://127.0.0.1:{ports['backend']}"
        elif word == "-backend-service=http://localhost:8081":
            word = f"-backend-service=http://localhost:{ports['backend']}"
        replaced.append(word)
    if any(word.startswith("-db-") for word in words):
        replaced.append(f"-db-name={database.name}")
    if "-mode=frontend" in words:
        replaced.append(f"-port={ports['frontend']}")
    if any(word.startswith("-mode=") for word in words):
        replaced += ["-host=127.0.0.1", "-metadata=simulated"]
    return replaced


class Processes:
    def __init__(self, installed: Installed, logs: Path) -> None:
        self.installed = installed
        self.logs = logs
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], ready_url: str) -> subprocess.Popen[bytes]:
        log = self.logs / f"{len(self.running)}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [self.installed.app, *argv[1:]],
                cwd=self.installed.workdir,
                env=self.installed.env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.running.append(process)
        try:
            wait_until_ready(ready_url, process, timeout=30)  # type: ignore[arg-type]
        except AssertionError as error:
            raise AssertionError(f"{error}\n{log.read_text()}") from None
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> int:
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout=20)

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def processes(installed: Installed, tmp_path: Path) -> Iterator[Processes]:
    running = Processes(installed, tmp_path)
    yield running
    running.stop_all()


def card_notes(frontend: str) -> list[str]:
    card = httpx.get(frontend + "/api/card", timeout=10)
    assert card.status_code == 200, card.text
    return [note["text"] for note in card.json()["notes"]]


def test_the_docs_give_the_workshop_commands() -> None:
    text = " ".join(DOCS.read_text().replace("\\\n", " ").split())
    for command in (BACKEND, FRONTEND, MIGRATE, HOST_BACKEND, HOST_FRONTEND):
        assert command in text, command


def test_the_wheel_holds_the_program_and_no_tests(installed: Installed) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    assert not [n for n in names if n.startswith(("tests/", "bench/"))]
    for needed in ("awsme/notes/migrations/env.py", "awsme/frontend/templates/index.html"):
        assert needed in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "app = awsme.cli:run" in zipfile.ZipFile(installed.wheel).read(entry_points).decode()
    result = subprocess.run(
        [installed.app, "-version"], env=installed.env, capture_output=True, text=True
    )
    assert (result.returncode, result.stdout) == (0, f"Version {VERSION}\n")


def test_workshop_commands_against_mariadb(
    installed: Installed, database: Database, processes: Processes
) -> None:
    ports = {"backend": free_port(), "frontend": free_port()}
    backend_url = f"http://127.0.0.1:{ports['backend']}"
    frontend_url = f"http://127.0.0.1:{ports['frontend']}"

    # The init container / Compose's one-shot `migrate`.
    migrate = subprocess.run(
        [installed.app, *on_loopback(MIGRATE, database, **ports)[1:]],
        cwd=installed.workdir,
        env=installed.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert migrate.returncode == 0, migrate.stderr
    assert "is at revision" in migrate.stdout

    backend_argv = on_loopback(BACKEND, database, **ports)
    backend = processes.start(backend_argv, backend_url + "/readyz")
    processes.start(on_loopback(FRONTEND, database, **ports), frontend_url + "/readyz")

    # Compose's health checks, as the image's python would run them.
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    for service, port in (("backend-1", ports["backend"]), ("frontend", ports["frontend"])):
        test = compose[service]["healthcheck"]["test"]
        assert test[:2] == ["CMD", "python"]
        url = test[-1].replace(":8081/", f":{port}/").replace(":8080/", f":{port}/")
        check = subprocess.run([installed.python, *test[2:-1], url], env=installed.env)
        assert check.returncode == 0, service

    added = httpx.post(frontend_url + "/add-note", json={"Note": "survives a restart ✓"})
    assert (added.status_code, added.text) == (200, "Ok\n")
    assert card_notes(frontend_url) == ["survives a restart ✓"]

    # The backend goes (SIGTERM: exit 0) and comes back with the same command.
    assert processes.stop(backend) == 0
    processes.start(backend_argv, backend_url + "/readyz")
    deadline = time.monotonic() + 15
    while True:
        try:
            notes = card_notes(frontend_url)
            break
        except (AssertionError, httpx.TransportError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert notes == ["survives a restart ✓"]
    body = httpx.get(backend_url + "/").json()
    assert body["Notes"] == ["survives a restart ✓"] and body["Version"] == VERSION

    processes.stop_all()
    assert list(installed.workdir.iterdir()) == [], "the image's working directory is read-only"


def test_host_networking_commands(
    installed: Installed, database: Database, processes: Processes
) -> None:
    ports = {"backend": free_port(), "frontend": free_port()}
    frontend_url = f"http://127.0.0.1:{ports['frontend']}"
    backend = on_loopback(HOST_BACKEND, database, **ports)
    assert "-db-host=localhost" in backend
    processes.start(backend, f"http://127.0.0.1:{ports['backend']}/readyz")
    processes.start(on_loopback(HOST_FRONTEND, database, **ports), frontend_url + "/readyz")
    assert httpx.post(frontend_url + "/add-note", json={"Note": "on localhost"}).text == "Ok\n"
    assert card_notes(frontend_url) == ["on localhost"]


def test_no_command_means_standalone_with_notes_in_the_working_directory(
    installed: Installed, tmp_path: Path
) -> None:
    """The image's CMD: both roles, the notes in SQLite in /data (here: a writable copy)."""
    (cmd,) = [line for line in dockerfile_stages()[-1] if line.startswith("CMD ")]
    argv = json.loads(cmd.removeprefix("CMD "))
    assert argv == ["app", "-mode=standalone"]
    data = tmp_path / "data"
    data.mkdir()
    frontend, backend = free_port(), free_port()
    installed_data = Installed(installed.venv, installed.wheel, data, installed.env)
    standalone = Processes(installed_data, tmp_path)
    try:
        standalone.start(
            [*argv, f"-port={frontend}", f"-backend-port={backend}", "-host=127.0.0.1",
             "-metadata=simulated"],
            f"http://127.0.0.1:{frontend}/readyz",
        )  # fmt: skip
        url = f"http://127.0.0.1:{frontend}"
        assert httpx.post(url + "/add-note", json={"Note": "standalone"}).text == "Ok\n"
        assert card_notes(url) == ["standalone"]
    finally:
        standalone.stop_all()
    assert (data / "awsme-notes.db").exists()
