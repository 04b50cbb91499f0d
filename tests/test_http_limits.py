"""The server's limits (awsme.http_limits) on the installed `app`, over raw sockets
on 127.0.0.1: oversized heads get 431, slow heads and bodies 408, idle
connections are closed, and clients that hang up are logged as 499 disconnects.
Counts and times are bounded: a few dozen sockets, a few seconds each."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.processes import APP, free_port, wait_until_ready


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        """Stop it (SIGTERM) and return what it logged."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        _, err = self.process.communicate(timeout=20)
        return err


def start(tmp_path: Path, *flags: str, ports: int = 1) -> list[Server]:
    numbers = [free_port() for _ in range(ports)]
    extra = [f"-backend-port={numbers[1]}"] if ports == 2 else []
    process = subprocess.Popen(
        [APP, *flags, *extra, "-host=127.0.0.1", f"-port={numbers[0]}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            "AWSME_METADATA": "simulated",
            "AWSME_DB_URL": f"sqlite:///{tmp_path}/notes.db",
        },
    )
    servers = [Server(process, port) for port in numbers]
    for server in servers:
        wait_until_ready(server.url + "/healthz", process)
    return servers


@pytest.fixture
def standalone(tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    """The frontend and its backend, with the default limits."""
    frontend, backend = start(tmp_path, "-mode=standalone", "-chaos", ports=2)
    yield frontend, backend
    frontend.process.kill()
    frontend.process.communicate()


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[Server]:
    """A backend with short limits, so that the tests take seconds."""
    (server,) = start(
        tmp_path,
        "-mode=backend",
        "-chaos",
        "-header-timeout=1",
        "-body-timeout=1.5",
        "-idle-timeout=2.5",
        "-max-header-bytes=4096",
    )
    yield server
    server.process.kill()
    server.process.communicate()


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def read_until_closed(sock: socket.socket, within: float) -> tuple[bytes, bool]:
    """What the server sends within `within` seconds, and whether it closed."""
    sock.settimeout(0.2)
    data = b""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def headers_of(response: bytes) -> dict[str, str]:
    head = response.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
    return {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in head)}


def request_head(size: int, path: str = "/") -> bytes:
    """A GET whose request line plus headers are exactly `size` bytes."""
    start = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: ".encode()
    end = b"\r\n\r\n"
    return start + b"1" * (size - len(start) - len(end)) + end


def test_a_huge_header_gets_431_from_both_roles(standalone: tuple[Server, Server]) -> None:
    # The case: an 8 MB X-Forwarded-For, which both roles answered with 200.
    for server in standalone:
        sock = connect(server.port)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: ")
        with contextlib.suppress(OSError):  # the server may close before the end
            for _ in range(128):  # 8 MiB
                sock.sendall(b"10.0.0.1, " * 6554)
        response, closed = read_until_closed(sock, 5)
        sock.close()
        assert status_of(response) == 431, response[:200]
        assert b"larger than 16384 bytes" in response
        headers = headers_of(response)
        assert headers["x-request-id"] and headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert closed


@pytest.mark.parametrize(("size", "status"), [(16384, 200), (16385, 431)])
def test_the_default_cap_is_16_kib_of_request_line_and_headers(
    standalone: tuple[Server, Server], size: int, status: int
) -> None:
    frontend, backend = standalone
    for server, path in ((backend, "/api/v1/instance"), (frontend, "/version")):
        with connect(server.port) as sock:
            sock.sendall(request_head(size, path))  # at once: the parser sees it whole
            response, _ = read_until_closed(sock, 1 if status == 200 else 5)
        assert status_of(response) == status


def test_many_small_headers_count_too(strict: Server) -> None:
    headers = b"".join(b"X-H%d: v\r\n" % n for n in range(600))  # about 6 KB
    with connect(strict.port) as sock:
        sock.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
        response, closed = read_until_closed(sock, 5)
    assert status_of(response) == 431 and closed
    assert b"larger than 4096 bytes" in response  # -max-header-bytes


def test_the_cap_holds_for_every_request_of_a_connection(strict: Server) -> None:
    with connect(strict.port) as sock:
        sock.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
        response, _ = read_until_closed(sock, 0.5)
        assert status_of(response) == 200
        sock.sendall(request_head(5000, "/version"))
        response, closed = read_until_closed(sock, 5)
    assert status_of(response) == 431 and closed


def test_slow_heads_get_408_and_silent_connections_are_closed(strict: Server) -> None:
    slow = [connect(strict.port) for _ in range(40)]
    silent = [connect(strict.port) for _ in range(10)]
    started = time.monotonic()
    for sock in slow:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")

    def trickle() -> None:  # slowloris: a header byte every 0.3 s, never the end
        for _ in range(15):
            for sock in slow:
                with contextlib.suppress(OSError):
                    sock.send(b"X")
            time.sleep(0.3)

    sender = threading.Thread(target=trickle, daemon=True)
    sender.start()
    for sock in slow:
        response, closed = read_until_closed(sock, 6 - (time.monotonic() - started))
        assert closed and status_of(response) == 408, response
        assert b"headers not received within 1s" in response
    for sock in silent:
        response, closed = read_until_closed(sock, 6 - (time.monotonic() - started))
        assert (response, closed) == (b"", True)
    sender.join()
    for sock in slow + silent:
        sock.close()


def test_a_trickled_body_is_cut_with_408(strict: Server) -> None:
    sock = connect(strict.port)
    sock.sendall(
        b"POST /add-note HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"X-Request-ID: slow-body-1\r\nContent-Length: 200\r\n\r\n"
    )
    started = time.monotonic()
    response = b""
    for byte in b'{"Note": "' + b"x" * 20:  # one byte every 0.3 s: 200 would take a minute
        try:
            sock.send(bytes([byte]))
        except OSError:
            break
        # The answer and the close can come in different reads: keep every byte.
        received, closed = read_until_closed(sock, 0.3)
        response += received
        if closed:
            break
    else:
        received, closed = read_until_closed(sock, 2)
        response += received
    took = time.monotonic() - started
    sock.close()
    assert closed and status_of(response) == 408, response
    assert b"body not received within 1.5s" in response
    assert headers_of(response)["x-request-id"] == "slow-body-1"
    assert took < 5
    logs = strict.logs()
    assert "POST /add-note 408" in logs and "Traceback" not in logs


def test_idle_keep_alive_connections_are_closed(strict: Server) -> None:
    with connect(strict.port) as sock:
        sock.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
        response, closed = read_until_closed(sock, 1.8)
        # Kept alive past -header-timeout=1, which only runs once a request begins...
        assert status_of(response) == 200 and not closed
        sock.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")  # still usable
        response, closed = read_until_closed(sock, 1.8)
        assert status_of(response) == 200 and not closed
        rest, closed = read_until_closed(sock, 2)
        assert (rest, closed) == (b"", True)  # ...then closed by -idle-timeout=2.5


def test_no_deadline_while_the_app_works(strict: Server) -> None:
    # A slow answer is not a slow client: neither timeout may cut it.
    httpx.post(strict.url + "/chaos/latency?ms=2500")
    response = httpx.post(strict.url + "/add-note", json={"Note": "slow answer"}, timeout=10)
    assert response.status_code == 200
    assert httpx.get(strict.url + "/api/v1/instance", timeout=10).status_code == 200


def test_clients_that_hang_up_are_499_without_traceback(
    standalone: tuple[Server, Server],
) -> None:
    frontend, backend = standalone
    # Mid-body, on both roles' note routes.
    for server, path in ((frontend, "/add-note"), (backend, "/api/v1/notes")):
        with connect(server.port) as sock:
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                'Content-Length: 1000\r\n\r\n{"Note": "cut'.encode()
            )
            time.sleep(0.2)
    # Before the answer: the frontend waits on its backend when the client leaves.
    httpx.post(backend.url + "/chaos/latency?ms=800")
    with connect(frontend.port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)
    time.sleep(1.2)
    metrics = httpx.get(frontend.url + "/metrics").text + httpx.get(backend.url + "/metrics").text
    logs = frontend.logs()
    assert 'route="/add-note",status="499"' in metrics
    assert 'route="/api/v1/notes",status="499"' in metrics
    assert 'method="GET",route="/",status="499"' in metrics
    disconnects = [line for line in logs.splitlines() if "client disconnected" in line]
    for request in ("POST /add-note 499 ", "POST /api/v1/notes 499 ", "GET / 499 "):
        assert any(request in line for line in disconnects), logs
    assert all(" INFO awsme.access: " in line for line in disconnects)
    assert "Traceback" not in logs and " ERROR " not in logs
