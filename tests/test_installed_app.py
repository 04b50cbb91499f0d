"""The installed `app` executable, run as a user (or an image) would run it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from awsme.version import VERSION
from tests.processes import APP, free_port, wait_until_ready


@pytest.fixture
def run_app() -> Iterator[Any]:
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str, ready_path: str = "/livez", env: dict[str, str] | None = None) -> str:
        port = free_port()
        process = subprocess.Popen(
            [APP, *args, f"-port={port}", "-host=127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        processes.append(process)
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(url + ready_path, process)
        return url

    yield start
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([APP, *args], capture_output=True, text=True, timeout=30)


def test_version() -> None:
    result = run("-version")
    assert (result.returncode, result.stdout) == (0, f"Version {VERSION}\n")


@pytest.mark.parametrize("flag", ["-port=abc", "-port=70000"])
def test_bad_flag_value_is_one_line(flag: str) -> None:
    result = run("-mode=backend", "-metadata=simulated", "-host=127.0.0.1", flag)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_unknown_mode() -> None:
    result = run("-mode=nope")
    assert result.returncode == 2
    assert result.stderr.startswith("Unknown mode: nope, should be either backend or frontend")


def test_backend_against_the_simulator_process(run_app: Any) -> None:
    imds = run_app("-mode=imds", ready_path="/latest/meta-data/")
    backend = run_app("-mode=backend", f"-metadata-endpoint={imds}", ready_path="/healthz")
    body = httpx.get(backend + "/").json()
    assert body["Id"] == "i-0123456789abcdef0" and body["Error"] == ""
    assert body["Instance"]["metadata"]["imds_version"] == "v2"
    requests = httpx.get(imds + "/_sim/requests").json()
    assert not [r for r in requests if "credentials" in r["path"]]


def test_simulated_metadata_needs_no_server(run_app: Any) -> None:
    backend = run_app("-mode=backend", "-metadata=simulated")
    body = httpx.get(backend + "/").json()
    assert body["Id"] == "i-0123456789abcdef0"
    assert body["Instance"]["metadata"]["source"] == "simulated"


def test_workers_share_the_port(run_app: Any) -> None:
    backend = run_app("-mode=backend", "-metadata=simulated", "-workers=2")
    pids = set()
    deadline = time.monotonic() + 20
    while len(pids) < 2 and time.monotonic() < deadline:
        # A fresh connection per request lets the kernel pick either worker.
        with httpx.Client() as client:
            pids.add(client.get(backend + "/api/v1/instance").json()["served_by"]["pid"])
    assert len(pids) == 2


def test_port_in_use_is_one_line(run_app: Any) -> None:
    backend = run_app("-mode=backend", "-metadata=simulated")
    port = backend.rsplit(":", 1)[1]
    result = run("-mode=backend", "-metadata=simulated", "-host=127.0.0.1", f"-port={port}")
    assert result.returncode == 1
    assert "cannot listen on 127.0.0.1:" in result.stderr and "Traceback" not in result.stderr


def test_environment_configures_the_program(run_app: Any) -> None:
    backend = run_app(env={"AWSME_MODE": "backend", "AWSME_METADATA": "simulated"})
    assert httpx.get(backend + "/version").text == VERSION + "\n"


def test_sigterm_turns_readiness_off_then_exits_zero() -> None:
    port = free_port()
    process = subprocess.Popen(
        [APP, "-mode=backend", "-metadata=simulated", "-host=127.0.0.1", f"-port={port}",
         "-shutdown-delay=1.5"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url + "/readyz", process)
        process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        # During the delay: not ready, but still alive and serving.
        assert httpx.get(url + "/readyz").status_code == 503
        assert httpx.get(url + "/livez").status_code == 200
        assert httpx.get(url + "/").status_code == 200
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
    assert "SIGTERM: not ready any more" in (process.stderr.read() if process.stderr else "")


def test_second_signal_exits_at_once() -> None:
    port = free_port()
    process = subprocess.Popen(
        [APP, "-mode=backend", "-metadata=simulated", "-host=127.0.0.1", f"-port={port}",
         "-shutdown-delay=30"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/readyz", process)  # type: ignore[arg-type]
        process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=5) != 0
        assert time.monotonic() - started < 2
    finally:
        process.kill()


def test_standalone_serves_the_card_and_its_backend(run_app: Any) -> None:
    backend_port = free_port()
    frontend = run_app(
        "-mode=standalone", "-metadata=simulated", f"-backend-port={backend_port}",
        ready_path="/readyz",
    )  # fmt: skip
    page = httpx.get(frontend + "/")
    assert page.status_code == 200 and "i-0123456789abcdef0" in page.text
    # The banner and the first row name the same replica: this host, not the simulated
    # instance, which the card says is simulated.
    card = httpx.get(frontend + "/api/card").json()
    assert card["facts"][0] == {"key": "host", "label": "Host", "value": socket.gethostname()}
    assert card["replica"]["key"] == socket.gethostname()
    assert f'data-replica-key="{socket.gethostname()}"' in page.text
    assert f'<dd data-row="host">{socket.gethostname()}</dd>' in page.text
    assert 'title="Metadata from the built-in EC2 simulator">Simulated EC2</span>' in page.text
    backend = httpx.get(f"http://127.0.0.1:{backend_port}/api/v1/instance").json()
    assert backend["metadata"]["source"] == "simulated"
    assert httpx.post(frontend + "/add-note", json={"Note": "standalone"}).text == "Ok\n"
    assert httpx.get(frontend + "/api/card").json()["notes"]["items"][0]["text"] == "standalone"
