"""`app -mode=load`, the installed program, against two real backends behind a
per-connection round-robin balancer on loopback (and a frontend in front of them): its
table of replicas matches what each server counted in its own /metrics."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from awsme.backend.app import create_backend_app
from awsme.frontend.app import create_frontend_app
from awsme.settings import Settings
from tests.loopback import LoopbackServer, serve, wait_ready
from tests.processes import APP
from tests.tcp_proxy import RoundRobinProxy

REPLICAS = ("backend-a", "backend-b")


def served(metrics_url: str, route: str) -> dict[str, float]:
    """status -> how many GET requests of `route` the server counted."""
    counts: dict[str, float] = {}
    pattern = re.compile(
        r'^awsme_http_requests_total\{method="GET",route="' + re.escape(route)
        + r'",status="(\d+)"\} (\S+)$', re.MULTILINE
    )  # fmt: skip
    for status, value in pattern.findall(httpx.get(metrics_url, timeout=5).text):
        counts[status] = counts.get(status, 0) + float(value)
    return counts


@pytest.fixture
def backends(tmp_path: Path) -> Iterator[dict[str, LoopbackServer]]:
    servers = {}
    for name in REPLICAS:
        settings = Settings(
            mode="backend", metadata="simulated", db_url=f"sqlite:///{tmp_path}/{name}.db"
        )
        servers[name] = LoopbackServer(create_backend_app(settings, {"POD_NAME": name})).start()
        wait_ready(servers[name].url)
    yield servers
    for server in servers.values():
        server.stop()


def run_load(*flags: str) -> dict[str, object]:
    result = subprocess.run(
        [APP, "-mode=load", *flags, "-json"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    summary: dict[str, object] = json.loads(result.stdout)
    return summary


def test_counts_match_the_servers_own(backends: dict[str, LoopbackServer]) -> None:
    balancer = RoundRobinProxy([server.port for server in backends.values()]).start()
    before = {name: served(s.url + "/metrics", "/api/v1/instance") for name, s in backends.items()}
    summary = run_load(
        f"-url=http://127.0.0.1:{balancer.port}/api/v1/instance",
        "-c", "4", "-duration=1.5", "-fresh-connections",
    )  # fmt: skip
    replicas = summary["replicas"]
    assert isinstance(replicas, dict) and set(replicas) == set(REPLICAS), replicas
    for name, server in backends.items():
        after = served(server.url + "/metrics", "/api/v1/instance")
        assert after.get("200", 0) - before[name].get("200", 0) == replicas[name], name
    assert summary["statuses"] == {"200": summary["requests"]}
    # Fresh connections through a per-connection balancer: an even split.
    assert abs(replicas["backend-a"] - replicas["backend-b"]) <= 4 + summary["requests"] // 10  # type: ignore[operator]
    latency = summary["latency_ms"]
    assert isinstance(latency, dict) and 0 < latency["p50"] <= latency["p95"] <= latency["p99"]


def test_a_rate_and_both_tiers_through_a_frontend(
    backends: dict[str, LoopbackServer], tmp_path: Path
) -> None:
    balancer = RoundRobinProxy([server.port for server in backends.values()]).start()
    settings = Settings(mode="frontend", backend_service=f"http://127.0.0.1:{balancer.port}")
    frontend = LoopbackServer(create_frontend_app(settings, environ={"POD_NAME": "front-1"}))
    frontend.start()
    try:
        before = {name: served(s.url + "/metrics", "/") for name, s in backends.items()}
        summary = run_load(f"-url={frontend.url}/", "-c", "2", "-rate=40", "-duration=1")
        replicas = summary["replicas"]
        assert isinstance(replicas, dict)
        assert set(replicas) == {f"front-1 -> {name}" for name in REPLICAS}, replicas
        for name, server in backends.items():
            after = served(server.url + "/metrics", "/")
            assert (
                after.get("200", 0) - before[name].get("200", 0) == replicas[f"front-1 -> {name}"]
            )
        # 40 per second for a second: the rate holds (give or take the last slot).
        assert 38 <= summary["requests"] <= 41, summary  # type: ignore[operator]
    finally:
        frontend.stop()


def test_every_answer_names_its_replica(backends: dict[str, LoopbackServer]) -> None:
    server = backends["backend-a"]
    for path in ("/", "/api/v1/instance", "/healthz", "/version", "/no-such-page"):
        answer = httpx.get(server.url + path, timeout=5)
        assert answer.headers["X-Served-By"] == "backend-a", path


def test_load_needs_a_url() -> None:
    result = subprocess.run([APP, "-mode=load"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "-url" in result.stderr


def test_percentiles_are_within_a_percent() -> None:
    from awsme.load import Latencies

    samples = [i / 10_000 for i in range(1, 10_001)]  # 0.1 ms to 1 s, evenly
    latencies = Latencies()
    for sample in reversed(samples):
        latencies.add(sample)
    for p in (50, 95, 99, 100):
        exact = samples[round(p / 100 * len(samples)) - 1]
        estimate = latencies.percentile(p)
        assert estimate is not None and exact <= estimate <= exact * 1.0101, (p, exact, estimate)
    assert Latencies().percentile(50) is None


def test_the_duration_holds_when_the_target_is_slower_than_the_rate() -> None:
    async def slow(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await asyncio.sleep(0.5)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    with serve(slow) as server:
        summary = run_load(f"-url={server.url}/", "-c", "1", "-rate=10", "-duration=1")
    # At 0.5 s an answer one connection makes 2 or 3 requests in the second, not all 10.
    assert summary["requests"] in (2, 3), summary
    assert summary["seconds"] < 2, summary  # type: ignore[operator]
