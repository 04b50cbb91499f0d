"""Readiness that cannot cascade: /readyz says whether this process can serve and
never follows the database or the backend; /healthz is the deep check and says
why it fails. Driven through a real MariaDB cut by a TCP proxy, and a backend
that goes away."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from awsme.backend.app import create_backend_app
from awsme.frontend.app import create_frontend_app
from awsme.settings import Settings
from tests.databases import ThrowawayDatabase
from tests.loopback import LoopbackServer, serve, wait_ready
from tests.tcp_proxy import TcpProxy


def eventually(check: Callable[[], bool], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"not reached within {within}s")


def status(url: str) -> int:
    return httpx.get(url, timeout=10).status_code


@pytest.fixture
def proxy(mariadb: ThrowawayDatabase) -> Iterator[TcpProxy]:
    proxy = TcpProxy(mariadb.port).start()
    yield proxy
    proxy.stop()


def test_probes_through_a_database_outage_and_a_backend_outage(
    mariadb: ThrowawayDatabase, proxy: TcpProxy
) -> None:
    backend_settings = Settings(
        mode="backend",
        db_url=mariadb.url_via(proxy.port),
        run_migrations=True,
        metadata="simulated",
        db_timeout=2.0,
        notes_cache=0.0,
    )
    backend = LoopbackServer(create_backend_app(backend_settings, {})).start()
    frontend_settings = Settings(mode="frontend", backend_service=backend.url)
    with serve(create_frontend_app(frontend_settings)) as frontend:
        wait_ready(backend.url)
        wait_ready(frontend.url)

        proxy.cut()  # the database goes away
        eventually(lambda: status(backend.url + "/healthz") == 503)
        assert httpx.get(backend.url + "/healthz").text.startswith("database: ")
        eventually(lambda: status(frontend.url + "/healthz") == 503)  # it caches ~1 s
        assert "backend: " in httpx.get(frontend.url + "/healthz").text
        for _ in range(5):  # every pod stays in its Service and behind the balancer
            assert status(backend.url + "/readyz") == 200
            assert status(frontend.url + "/readyz") == 200
        root = httpx.get(backend.url + "/", timeout=10)
        assert root.status_code == 200 and "notes unavailable" in root.json()["Error"]
        card = httpx.get(frontend.url + "/", timeout=10)
        assert card.status_code == 200 and "notes unavailable" in card.text

        proxy.restore()
        eventually(lambda: status(backend.url + "/healthz") == 200)
        eventually(lambda: status(frontend.url + "/healthz") == 200)

        backend.stop()  # now the backend goes away
        eventually(lambda: status(frontend.url + "/healthz") == 503)
        assert "no backend is listening at" in httpx.get(frontend.url + "/healthz").text
        for _ in range(5):
            assert status(frontend.url + "/readyz") == 200
        card = httpx.get(frontend.url + "/", timeout=10)
        assert card.status_code == 503 and "no backend is listening at" in card.text


def test_ready_once_the_first_metadata_fetch_has_finished(tmp_path: object) -> None:
    # A metadata service that accepts connections and never answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        settings = Settings(
            mode="backend",
            metadata="ec2",
            metadata_endpoint=endpoint,
            metadata_timeout=1.0,
            db_url=f"sqlite:///{tmp_path}/notes.db",
        )
        with serve(create_backend_app(settings, {})) as backend:
            waiting = httpx.get(backend.url + "/readyz")
            assert waiting.status_code == 503
            assert "metadata: the first fetch from ec2 has not finished" in waiting.text
            eventually(lambda: status(backend.url + "/readyz") == 200)
            # Ready with the fetch's error: the answers now say why there are no values.
            assert (
                "metadata unavailable" in httpx.get(backend.url + "/", timeout=10).json()["Error"]
            )
