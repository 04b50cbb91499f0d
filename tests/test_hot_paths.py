"""A guard, not a timing: the hot routes do no per-request work that belongs to
start-up (metadata calls, HTTP client or engine construction)."""

from __future__ import annotations

import gc
from pathlib import Path

import aiohttp
import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from awsme.backend.app import create_backend_app
from awsme.frontend.app import create_frontend_app
from awsme.settings import Settings
from tests.conftest import RunningSimulator
from tests.loopback import serve, wait_ready

HOT = ("/", "/api/v1/instance", "/api/v1/notes", "/healthz", "/readyz")


def live(kind: type) -> int:
    gc.collect()
    return sum(1 for item in gc.get_objects() if isinstance(item, kind))


def test_hot_routes_make_no_metadata_calls_and_build_no_clients(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    backend_settings = Settings(
        mode="backend",
        metadata_endpoint=simulator.url,
        db_url=f"sqlite:///{tmp_path}/n.db",
        events_refresh=3600,  # only the background refresh may call, and not during the test
    )
    with serve(create_backend_app(backend_settings, {})) as backend:
        wait_ready(backend.url)
        settings = Settings(mode="frontend", backend_service=backend.url)
        with serve(create_frontend_app(settings)) as frontend, httpx.Client() as client:
            for path in (*HOT, "/card", "/api/card"):  # warm every route once
                client.get(frontend.url + path)
                client.get(backend.url + path)
            metadata_requests = simulator.state.request_count
            clients, engines = live(httpx.AsyncClient), live(AsyncEngine)
            sessions = live(aiohttp.ClientSession)
            for _ in range(30):
                for path in HOT:
                    assert client.get(backend.url + path).status_code == 200, path
                assert client.get(frontend.url + "/").status_code == 200
                assert client.get(frontend.url + "/card").status_code == 200  # the page's poll
                assert client.get(frontend.url + "/api/card").status_code == 200
            assert simulator.state.request_count == metadata_requests
            assert live(httpx.AsyncClient) == clients
            assert live(AsyncEngine) == engines
            assert live(aiohttp.ClientSession) == sessions
