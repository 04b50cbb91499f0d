"""Metrics, logs, shutdown and the check mode, on the installed program."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from awsme.version import VERSION
from tests.processes import APP, free_port, wait_until_ready


class Running:
    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process = process
        self.url = url

    def stop(self) -> str:
        """SIGTERM, wait, and return everything it wrote to stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        _, err = self.process.communicate(timeout=20)
        return err


@pytest.fixture
def start() -> Iterator[Any]:
    running: list[Running] = []

    def run(*args: str, ready: str = "/readyz", port: int | None = None) -> Running:
        port = port or free_port()
        process = subprocess.Popen(
            [APP, *args, "-host=127.0.0.1", f"-port={port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "AWSME_METADATA": "simulated"},
        )
        item = Running(process, f"http://127.0.0.1:{port}")
        running.append(item)
        wait_until_ready(item.url + ready, process)
        return item

    yield run
    for item in running:
        if item.process.poll() is None:
            item.process.kill()
            item.process.communicate()


def samples(text: str, name: str) -> list[Any]:
    return [
        sample
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def test_metrics_after_known_traffic_with_two_workers(start: Any) -> None:
    backend = start("-mode=backend", "-workers=2")
    for _ in range(20):
        with httpx.Client() as fresh:  # a new connection each time: both workers serve
            assert fresh.get(backend.url + "/api/v1/instance").status_code == 200
    for _ in range(3):
        httpx.post(backend.url + "/api/v1/notes", json={"text": "counted"})
    text = httpx.get(backend.url + "/metrics").text
    requests = {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for s in samples(text, "awsme_http_requests_total")
    }
    # Every worker's requests are counted, whichever worker answers /metrics.
    assert requests[("GET", "/api/v1/instance", "200")] == 20
    assert requests[("POST", "/api/v1/notes", "201")] == 3
    durations = samples(text, "awsme_http_request_duration_seconds_count")
    assert sum(s.value for s in durations if s.labels["route"] == "/api/v1/instance") == 20
    fetches = samples(text, "awsme_metadata_fetches_total")
    assert {s.labels["source"] for s in fetches} == {"simulated"}
    assert any(s.labels["outcome"] == "ok" and s.value >= 2 for s in fetches)  # one per worker
    assert samples(text, "awsme_build_info")[0].labels == {"version": VERSION, "role": "backend"}
    assert samples(text, "awsme_db_pool_connections")
    assert samples(text, "awsme_metadata_age_seconds")
    backend.stop()


def test_frontend_metrics_count_backend_calls(start: Any) -> None:
    backend_port = free_port()
    frontend = start("-mode=standalone", f"-backend-port={backend_port}")
    for _ in range(5):
        httpx.get(frontend.url + "/api/card")
    text = httpx.get(frontend.url + "/metrics").text
    calls = {s.labels["outcome"]: s.value for s in samples(text, "awsme_backend_calls_total")}
    assert calls["200"] >= 5
    routes = {s.labels["route"] for s in samples(text, "awsme_http_requests_total")}
    assert "/api/card" in routes
    frontend.stop()


def test_json_logs_follow_one_request_id_through_both_roles(start: Any) -> None:
    backend_port = free_port()
    frontend = start("-mode=standalone", f"-backend-port={backend_port}", "-log-format=json")
    response = httpx.get(frontend.url + "/", headers={"X-Request-ID": "trace-abc-123"})
    assert response.headers["x-request-id"] == "trace-abc-123"
    made_up = httpx.get(frontend.url + "/livez").headers["x-request-id"]
    lines = [json.loads(line) for line in frontend.stop().splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "awsme.access"]
    traced = [line for line in access if line.get("request_id") == "trace-abc-123"]
    # The frontend's line for the page and the backend's for the call it made.
    assert sorted(line["client"] for line in traced) == ["127.0.0.1", "127.0.0.1"]
    assert [line["route"] for line in traced] == ["/", "/"]
    assert {line["status"] for line in traced} == {200}
    for line in traced:
        assert line["method"] == "GET" and line["duration_ms"] >= 0
    assert any(line.get("request_id") == made_up for line in access)


def test_no_secret_in_any_log_line(start: Any, tmp_path: Path) -> None:
    password, cookie, token = "db-pass-XYZZY", "session=cookie-XYZZY", "token-XYZZY"
    backend_port = free_port()
    frontend = start(
        "-mode=standalone",
        f"-backend-port={backend_port}",
        f"-db-url=sqlite:///{tmp_path}/n.db",
        "-log-level=debug",
        ready="/livez",
    )
    db_backend = start(
        "-mode=backend", "-db-host=127.0.0.1", "-db-port=1", f"-db-password={password}",
        "-log-level=debug", "-log-format=json", ready="/livez",
    )  # fmt: skip
    secret_headers = {
        "Cookie": cookie,
        "Authorization": f"Bearer {token}",
        "X-aws-ec2-metadata-token": token,
        "Proxy-Authorization": f"Basic {token}",
    }
    for url in (frontend.url, db_backend.url):
        for path in ("/", "/api/card", "/healthz", "/add-note?x=1"):
            httpx.get(url + path, headers=secret_headers)
        httpx.post(url + "/add-note", json={"Note": "n"}, headers=secret_headers)
    time.sleep(1)  # let the failing database connection be retried and logged
    logs = frontend.stop() + db_backend.stop()
    assert "GET /" in logs or '"route": "/"' in logs  # the requests were logged...
    for secret in (password, cookie, token, "XYZZY"):
        assert secret not in logs  # ...and none of the secrets


def test_inflight_requests_finish_on_sigterm(start: Any) -> None:
    backend = start("-mode=backend", "-chaos", "-shutdown-timeout=10")
    httpx.post(backend.url + "/chaos/latency?ms=1500")
    results: list[int] = []
    slow = threading.Thread(
        target=lambda: results.append(httpx.get(backend.url + "/", timeout=10).status_code)
    )
    slow.start()
    time.sleep(0.4)  # the request is in flight, waiting on the injected latency
    backend.process.send_signal(signal.SIGTERM)
    slow.join(10)
    assert results == [200]
    assert backend.process.wait(timeout=10) == 0


def test_check_mode(start: Any) -> None:
    backend = start("-mode=backend", "-chaos")
    ok = subprocess.run(
        [APP, "-mode=check", f"-url={backend.url}/healthz"], capture_output=True, text=True
    )
    assert ok.returncode == 0 and "200 OK" in ok.stdout
    httpx.post(backend.url + "/chaos/probes/healthz")
    failing = subprocess.run(
        [APP, "-mode=check", f"-url={backend.url}/healthz"], capture_output=True, text=True
    )
    assert failing.returncode == 1 and "503" in failing.stderr and "on purpose" in failing.stderr
    closed = subprocess.run(
        [APP, "-mode=check", f"-url=http://127.0.0.1:{free_port()}/healthz", "-check-timeout=1"],
        capture_output=True,
        text=True,
    )
    assert closed.returncode == 1 and closed.stderr.count("\n") == 1
    missing = subprocess.run([APP, "-mode=check"], capture_output=True, text=True)
    assert missing.returncode == 2 and "-url" in missing.stderr


@pytest.mark.parametrize("enabled", [True, False])
def test_one_access_line_per_request_or_none(start: Any, enabled: bool) -> None:
    backend = start("-mode=backend", "-log-format=json", f"-access-log={str(enabled).lower()}")
    for _ in range(5):
        httpx.get(backend.url + "/version?token=QueryTok123")
    lines = [json.loads(line) for line in backend.stop().splitlines() if line.startswith("{")]
    versions = [line for line in lines if "/version" in line["message"]]
    assert len(versions) == (5 if enabled else 0)
    assert all(line["logger"] == "awsme.access" for line in versions)
    assert "QueryTok123" not in json.dumps(lines)  # query strings are never logged
