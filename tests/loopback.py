"""Real HTTP servers on 127.0.0.1 for tests: an ASGI app served by uvicorn in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import uvicorn


class LoopbackServer:
    """Serves an ASGI app on 127.0.0.1 on a free port until stopped."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # As in awsme.server: accepted sockets inherit it; without it small
        # responses written in two parts wait 40 ms for a delayed ACK.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        # As in awsme.server: the client address is the peer, never a header's claim.
        config = uvicorn.Config(
            app, log_level="warning", lifespan="auto", access_log=False, proxy_headers=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    def start(self) -> LoopbackServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("loopback server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def closed_port_url() -> str:
    """A loopback URL where nothing listens (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def wait_ready(url: str, timeout: float = 20) -> None:
    """Wait until the awsme app at url can do its whole job: /healthz, the deep
    check (the backend's database answers), not /readyz, which never waits on it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(url + "/healthz").status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError(f"{url} not healthy: {httpx.get(url + '/healthz').text}")


@contextlib.contextmanager
def serve(app: Any) -> Iterator[LoopbackServer]:
    """`with serve(app) as server:` gives a running server at server.url."""
    server = LoopbackServer(app).start()
    try:
        yield server
    finally:
        server.stop()
