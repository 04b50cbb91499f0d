"""Every answer carries its request id and security headers, errors included, and
nothing a client sends can forge a log line or a request id."""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Response

from awsme.backend.app import create_backend_app
from awsme.frontend.app import create_frontend_app
from awsme.ops.logs import TextFormatter
from awsme.settings import Settings
from tests.loopback import closed_port_url, serve
from tests.processes import APP, free_port, wait_until_ready

LOG_RECORD_START = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")


def backend_app(tmp_path: Path) -> FastAPI:
    settings = Settings(mode="backend", metadata="simulated", db_url=f"sqlite:///{tmp_path}/n.db")
    return create_backend_app(settings, {})


def frontend_app(tmp_path: Path) -> FastAPI:
    return create_frontend_app(Settings(mode="frontend", backend_service=closed_port_url()))


async def broken_route() -> None:
    raise RuntimeError("a bug")


@pytest.mark.parametrize(
    ("build", "policy"),
    [(backend_app, "default-src 'none'"), (frontend_app, "script-src 'self'")],
)
def test_a_500_carries_the_request_id_and_the_security_headers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, build: Any, policy: str
) -> None:
    app = build(tmp_path)
    app.add_api_route("/broken", broken_route)  # a route with a bug, in the real app
    with serve(app) as server, caplog.at_level(logging.ERROR):
        response = httpx.get(server.url + "/broken", headers={"X-Request-ID": "bug-42"})
        missing = httpx.get(server.url + "/no-such-page")
    assert response.status_code == 500
    assert response.text == "Error: internal server error\n"
    for answer in (response, missing):
        assert answer.headers["x-request-id"]
        assert policy in answer.headers["content-security-policy"]
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
    assert response.headers["x-request-id"] == "bug-42"
    (record,) = [r for r in caplog.records if r.name == "awsme.errors"]
    assert record.exc_info and getattr(record, "request_id", None) in (None, "bug-42")


async def route_with_its_own_headers() -> Response:
    return Response(
        "ok",
        headers={
            "X-Frame-Options": "SAMEORIGIN",
            "X-Request-ID": "set-by-the-route",
            "X-Served-By": "someone-else",
        },
    )


def test_a_routes_own_security_header_stays_and_the_request_id_is_ours(tmp_path: Path) -> None:
    app = backend_app(tmp_path)
    app.add_api_route("/own-headers", route_with_its_own_headers)
    with serve(app) as server:
        response = httpx.get(server.url + "/own-headers", headers={"X-Request-ID": "req-7"})
    assert response.status_code == 200
    # A header the route chose is kept, once; the others are added.
    assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    # The request id and the replica are the server's to say, whatever the route set.
    assert response.headers.get_list("x-request-id") == ["req-7"]
    (served_by,) = response.headers.get_list("x-served-by")
    assert served_by != "someone-else"


@pytest.mark.parametrize(
    "given",
    ["abc request_id=forged", "x" * 129, "tab\there", "é", "a\u2028b", "semi;colon"],
)
def test_an_unsafe_request_id_is_replaced(tmp_path: Path, given: str) -> None:
    with serve(backend_app(tmp_path)) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            header = given.encode("utf-8")
            sock.sendall(
                b"GET /version HTTP/1.1\r\nHost: x\r\nX-Request-ID: " + header + b"\r\n\r\n"
            )
            head = sock.recv(65536).split(b"\r\n\r\n")[0].decode("latin-1").lower()
        (line,) = [x for x in head.split("\r\n") if x.startswith("x-request-id:")]
        assert re.fullmatch(r"x-request-id: [0-9a-f]{32}", line)
        kept = httpx.get(server.url + "/version", headers={"X-Request-ID": "Root=1-ab_c.d:e"})
        assert kept.status_code == 200
        assert re.fullmatch(r"[0-9a-f]{32}", kept.headers["x-request-id"])  # '=' is not safe
        ok = httpx.get(server.url + "/version", headers={"X-Request-ID": "1-5759e988_bd86.e:2"})
        assert ok.headers["x-request-id"] == "1-5759e988_bd86.e:2"


def test_a_text_log_line_cannot_be_forged(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [APP, "-mode=backend", "-metadata=simulated", "-host=127.0.0.1", f"-port={port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            "AWSME_DB_URL": f"sqlite:///{tmp_path}/n.db",
            "AWSME_LOG_FORMAT": "text",
        },
    )
    wait_until_ready(f"http://127.0.0.1:{port}/readyz", process)
    forged = b"2026-11-29%2005:00:00,000%20INFO%20awsme.access:%20GET%20/admin%20200"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            b"GET /x%0a" + forged + b"%0d%1b[31m%c2%85 HTTP/1.1\r\nHost: x\r\n"
            b"X-Request-ID: abc request_id=forged\r\n\r\n"
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 404")
    process.send_signal(signal.SIGTERM)
    _, logs = process.communicate(timeout=20)
    lines = logs.splitlines()
    assert lines and all(LOG_RECORD_START.match(line) or line.startswith("    ") for line in lines)
    (access,) = [line for line in lines if "GET /x" in line]
    assert (
        "GET /x\\n2026-11-29 05:00:00,000 INFO awsme.access: GET /admin 200\\r\\x1b[31m" in access
    )
    assert "\\x85" in access
    assert "request_id=forged" not in logs
    assert re.search(r" request_id=[0-9a-f]{32}$", access)


def test_a_traceback_stays_under_its_record() -> None:
    try:
        raise ValueError("bad value\n2026-11-29 05:00:00,000 INFO forged line")
    except ValueError:
        record = logging.LogRecord(
            "awsme", logging.ERROR, __file__, 1, "failed: %s", ("a\nb",), sys.exc_info()
        )
    first, *rest = TextFormatter().format(record).splitlines()
    assert first.endswith("ERROR awsme: failed: a\\nb")
    assert rest and all(line.startswith("    ") for line in rest)
    assert "    ValueError: bad value" in rest


def test_the_text_format_writes_the_time_as_logging_does() -> None:
    """The formatter makes the date and time once a second: the same text as logging's."""
    ours = TextFormatter()
    logging_own = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    for created in (1_790_000_000.0456, 1_790_000_000.999, 1_790_000_001.0, 1_790_003_600.5):
        record = logging.makeLogRecord({"msg": "x", "levelname": "INFO", "name": "awsme"})
        record.created, record.msecs = created, (created - int(created)) * 1000
        assert ours.format(record) == logging_own.format(record)
