"""Database outages under a running backend: it starts without its database,
keeps answering while the database is away, and recovers with no restart."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from awsme.backend.app import create_backend_app
from awsme.notes.database import database_url
from awsme.notes.migrate import migrate
from awsme.settings import Settings
from tests.databases import ThrowawayDatabase
from tests.loopback import serve
from tests.tcp_proxy import TcpProxy


def eventually(check: Callable[[], bool], within: float = 15.0) -> float:
    """Wait until check() holds; return how long it took."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if check():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"not reached within {within}s")


@pytest.fixture
async def migrated(server_database: ThrowawayDatabase) -> ThrowawayDatabase:
    await migrate(database_url(Settings(db_url=server_database.url)))
    return server_database


@pytest.fixture
def proxy(migrated: ThrowawayDatabase) -> Iterator[TcpProxy]:
    proxy = TcpProxy(migrated.port, down=True).start()
    yield proxy
    proxy.stop()


def start_backend(db_url: str) -> Any:
    # notes_cache=0: every GET / reads the database, so the outage shows at once.
    settings = Settings(
        mode="backend", db_url=db_url, metadata="simulated", db_timeout=2.0, notes_cache=0.0
    )
    return serve(create_backend_app(settings, {}))


def notes_of(url: str) -> list[str]:
    body = httpx.get(url + "/", timeout=10).json()
    notes: list[str] = body["Notes"]
    return notes


def test_outage_from_start_to_recovery(migrated: ThrowawayDatabase, proxy: TcpProxy) -> None:
    with start_backend(migrated.url_via(proxy.port)) as server:
        url = server.url
        # The database is not up yet: alive, ready (it serves the metadata), not
        # healthy, and it says why.
        assert httpx.get(url + "/livez").status_code == 200
        health = httpx.get(url + "/healthz")
        assert health.status_code == 503 and health.text.startswith("database: ")
        assert httpx.get(url + "/readyz").status_code == 200
        root = httpx.get(url + "/")
        assert root.status_code == 200 and root.json()["Id"] == "i-0123456789abcdef0"
        assert "notes unavailable" in root.json()["Error"]
        assert httpx.post(url + "/add-note", json={"Note": "early"}).status_code == 503

        proxy.restore()  # the database comes up: healthy by itself
        eventually(lambda: httpx.get(url + "/healthz").status_code == 200, within=10)
        acknowledged = []
        for text in ("before the outage 1", "before the outage 2"):
            assert httpx.post(url + "/add-note", json={"Note": text}).status_code == 200
            acknowledged.append(text)

        proxy.cut()  # the database goes away under the running backend
        root = httpx.get(url + "/", timeout=10)
        assert root.status_code == 200 and "notes unavailable" in root.json()["Error"]
        assert root.json()["Id"] == "i-0123456789abcdef0"
        # Said apart from the metadata's errors: the list is unknown, not empty.
        assert root.json()["NotesError"].startswith("notes unavailable: the database")
        assert root.json()["Notes"] == []
        assert httpx.post(url + "/add-note", json={"Note": "lost"}, timeout=10).status_code == 503
        created = httpx.post(url + "/api/v1/notes", json={"text": "lost"}, timeout=10)
        assert created.status_code == 503 and "unavailable" in created.json()["error"]
        assert httpx.get(url + "/healthz", timeout=10).status_code == 503

        proxy.restore()  # back: the same process recovers, no restart
        took = eventually(lambda: httpx.post(url + "/add-note", json={"Note": "after"}).is_success)
        assert took < 5
        acknowledged.append("after")
        # No dead connection is left in the pool: every request now succeeds.
        for _ in range(20):
            assert httpx.get(url + "/").json()["Error"] == ""
        assert httpx.get(url + "/").json()["NotesError"] is None
        assert httpx.get(url + "/healthz").status_code == 200
        assert notes_of(url) == acknowledged


def test_connections_killed_by_the_server(server_database: ThrowawayDatabase) -> None:
    settings = Settings(
        mode="backend", db_url=server_database.url, run_migrations=True, metadata="simulated"
    )
    with serve(create_backend_app(settings, {})) as server:
        url = server.url
        eventually(lambda: httpx.get(url + "/healthz").status_code == 200)
        for number in range(5):
            httpx.post(url + "/add-note", json={"Note": f"n{number}"})
        assert server_database.kill_connections() > 0
        # pool_pre_ping replaces the dead connections before any query uses them.
        for _ in range(10):
            body = httpx.get(url + "/").json()
            assert body["Error"] == "" and len(body["Notes"]) == 5
        assert httpx.post(url + "/add-note", json={"Note": "after"}).status_code == 200
