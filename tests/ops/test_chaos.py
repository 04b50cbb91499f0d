"""The chaos switches, in-process over loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from awsme.backend.app import create_backend_app
from awsme.frontend.app import create_frontend_app
from awsme.settings import Settings
from tests.loopback import serve, wait_ready


def backend_settings(tmp_path: Path, **options: object) -> Settings:
    return Settings(
        mode="backend", metadata="simulated", db_url=f"sqlite:///{tmp_path}/n.db", **options
    )


@pytest.fixture
def chaotic(tmp_path: Path) -> Iterator[str]:
    with serve(create_backend_app(backend_settings(tmp_path, chaos=True), {})) as server:
        wait_ready(server.url)
        yield server.url


def test_without_chaos_the_switches_do_not_exist(tmp_path: Path) -> None:
    with serve(create_backend_app(backend_settings(tmp_path), {})) as server:
        assert httpx.get(server.url + "/chaos").status_code == 404
        assert httpx.post(server.url + "/chaos/latency?ms=100").status_code == 404
        assert "Chaos" not in httpx.get(server.url + "/").json()


def test_a_probe_fails_for_the_next_n_checks(chaotic: str) -> None:
    assert httpx.post(chaotic + "/chaos/probes/readyz?count=2").status_code == 200
    assert httpx.get(chaotic + "/chaos").json()["failing_probes"] == {"readyz": 2}
    first = httpx.get(chaotic + "/readyz")
    assert first.status_code == 503 and "on purpose" in first.text
    assert httpx.get(chaotic + "/readyz").status_code == 503
    assert httpx.get(chaotic + "/readyz").status_code == 200
    assert httpx.get(chaotic + "/livez").status_code == 200  # the others are untouched


def test_a_probe_fails_until_switched_back(chaotic: str) -> None:
    httpx.post(chaotic + "/chaos/probes/livez")
    for _ in range(5):
        assert httpx.get(chaotic + "/livez").status_code == 503
    body = httpx.get(chaotic + "/").json()
    assert body["Chaos"] == ["/livez fails on purpose until switched back"]
    httpx.delete(chaotic + "/chaos/probes/livez")
    assert httpx.get(chaotic + "/livez").status_code == 200
    assert httpx.get(chaotic + "/").json()["Chaos"] == []


def test_latency_on_app_routes_only(chaotic: str) -> None:
    httpx.post(chaotic + "/chaos/latency?ms=400")
    started = time.monotonic()
    assert httpx.get(chaotic + "/api/v1/instance").status_code == 200
    assert time.monotonic() - started >= 0.4
    for exempt in ("/healthz", "/livez", "/readyz", "/metrics", "/version", "/chaos"):
        started = time.monotonic()
        httpx.get(chaotic + exempt)
        assert time.monotonic() - started < 0.3, exempt


def test_error_rate_on_app_routes_only(chaotic: str) -> None:
    httpx.post(chaotic + "/chaos/errors?percent=100")
    failed = httpx.get(chaotic + "/")
    assert failed.status_code == 503 and "chaos" in failed.text
    assert httpx.get(chaotic + "/healthz").status_code == 200
    assert httpx.get(chaotic + "/metrics").status_code == 200
    httpx.delete(chaotic + "/chaos")
    assert httpx.get(chaotic + "/").status_code == 200
    state = httpx.get(chaotic + "/chaos").json()
    assert (state["failing_probes"], state["latency_ms"], state["error_percent"]) == ({}, 0, 0.0)
    assert state["cpu"]["percent"] == 0 and state["memory"]["mb"] == 0


@pytest.mark.parametrize(
    "call",
    [
        "/chaos/probes/nope",
        "/chaos/probes/readyz?count=0",
        "/chaos/probes/readyz?count=x",
        "/chaos/latency?ms=-1",
        "/chaos/latency?ms=999999",
        "/chaos/latency",
        "/chaos/errors?percent=101",
        "/chaos/errors?percent=nan",
    ],
)
def test_bad_switches_are_400(chaotic: str, call: str) -> None:
    response = httpx.post(chaotic + call)
    assert response.status_code == 400 and response.json()["error"]


def test_switches_show_on_the_card(chaotic: str) -> None:
    settings = Settings(mode="frontend", backend_service=chaotic, chaos=True)
    with serve(create_frontend_app(settings)) as frontend:
        httpx.post(chaotic + "/chaos/probes/readyz?count=5")
        httpx.post(frontend.url + "/chaos/latency?ms=10")
        notices = httpx.get(frontend.url + "/api/card").json()["notices"]
        assert "Chaos on the backend: /readyz fails on purpose for 5 more checks" in notices
        assert "Chaos on the frontend: every request waits 10 ms on purpose" in notices
        page = httpx.get(frontend.url + "/")
        assert "/readyz fails on purpose" in page.text
