"""The frontend over HTTP, against real backends and recording fakes on loopback."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from awsme.backend.app import create_backend_app
from awsme.frontend.app import create_frontend_app
from awsme.settings import Settings
from tests.loopback import LoopbackServer, closed_port_url, serve, wait_ready

GO_SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "go-samples"


class FakeBackend:
    """A backend that answers `document` and records what reaches it."""

    def __init__(self, document: Any, *, delay: float = 0.0, health: int = 200) -> None:
        self.document = document
        self.delay = delay
        self.health = health
        self.requests: list[dict[str, Any]] = []

    def app(self) -> Starlette:
        async def root(request: Request) -> Response:
            self.requests.append(
                {
                    "path": request.url.path,
                    "headers": dict(request.headers),
                    "peer": request.client.port if request.client else None,
                }
            )
            if self.delay:
                import asyncio

                await asyncio.sleep(self.delay)
            return Response(json.dumps(self.document), media_type="text/plain")

        async def healthz(request: Request) -> Response:
            self.requests.append({"path": "/healthz", "headers": dict(request.headers)})
            return PlainTextResponse("", status_code=self.health)

        async def add_note(request: Request) -> Response:
            body = await request.body()
            self.requests.append({"path": "/add-note", "body": body, "method": request.method})
            return PlainTextResponse("Ok\n")

        return Starlette(
            routes=[
                Route("/", root),
                Route("/healthz", healthz),
                Route("/add-note", add_note, methods=["GET", "POST"]),
            ]
        )


@pytest.fixture
def go_backend() -> Iterator[tuple[FakeBackend, str]]:
    fake = FakeBackend(json.loads((GO_SAMPLES / "backend-root.json").read_text()))
    with serve(fake.app()) as server:
        yield fake, server.url


@pytest.fixture
def frontend_for() -> Iterator[Any]:
    contexts: list[Any] = []

    def start(backend_url: str, **options: Any) -> str:
        settings = Settings(mode="frontend", backend_service=backend_url, **options)
        context = serve(create_frontend_app(settings))
        contexts.append(context)
        url: str = context.__enter__().url
        return url

    yield start
    for context in contexts:
        context.__exit__(None, None, None)


def test_card_from_a_go_backend(go_backend: tuple[FakeBackend, str], frontend_for: Any) -> None:
    _, backend = go_backend
    url = frontend_for(backend)
    card = httpx.get(url + "/api/card").json()
    rows = {row["key"]: row["value"] for row in card["facts"] + card["more_rows"]}
    assert card["ok"] is True and card["status"] == 200 and card["legacy"] is True
    assert rows["id"] == "i-0123456789abcdef0" and rows["zone"] == "us-east-1a"
    assert rows["instance_type"] is None and rows["zone_id"] is None  # unknown to a Go backend
    assert "pod" not in rows and "provider" not in rows  # no column of dashes
    assert card["notes"] == {
        "items": [{"id": None, "text": "hello <b>x</b>", "created_at": None}],
        "problem": None,
        "known": True,
        "stale_seconds": None,
    }
    assert card["replica"] == {
        "key": "i-0123456789abcdef0",
        "version": "1.0.0",
        "label": "i-0123456789abcdef0",
    }
    page = httpx.get(url + "/")
    assert page.status_code == 200 and "i-0123456789abcdef0" in page.text
    assert "hello &lt;b&gt;x&lt;/b&gt;" in page.text and "<b>x</b>" not in page.text


def test_go_backend_with_null_notes(frontend_for: Any) -> None:
    document = json.loads((GO_SAMPLES / "backend-root.json").read_text())
    document["Notes"] = None
    with serve(FakeBackend(document).app()) as backend:
        url = frontend_for(backend.url)
        notes = httpx.get(url + "/api/card").json()["notes"]
        assert notes["items"] == [] and notes["problem"] is None
        assert httpx.get(url + "/").status_code == 200


def test_headers_sent_to_the_backend(
    go_backend: tuple[FakeBackend, str], frontend_for: Any
) -> None:
    fake, backend = go_backend
    url = frontend_for(backend)
    response = httpx.get(
        url + "/",
        headers={
            "Cookie": "session=secret",
            "Authorization": "Bearer secret",
            "X-Forwarded-For": "203.0.113.7",
            "X-Request-ID": "trace-123",
            "User-Agent": "Mozilla/5.0 test",
        },
    )
    assert response.headers["x-request-id"] == "trace-123"
    sent = fake.requests[-1]["headers"]
    assert "cookie" not in sent and "authorization" not in sent
    assert sent["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
    assert sent["x-request-id"] == "trace-123"
    assert sent["user-agent"] == "Mozilla/5.0 test"
    assert sent["connection"] == "close"
    made_up = httpx.get(url + "/").headers["x-request-id"]
    assert len(made_up) == 32 and fake.requests[-1]["headers"]["x-request-id"] == made_up


def test_a_fresh_connection_per_backend_call(
    go_backend: tuple[FakeBackend, str], frontend_for: Any
) -> None:
    fake, backend = go_backend
    url = frontend_for(backend)
    for _ in range(3):
        httpx.get(url + "/api/card")
    peers = [r["peer"] for r in fake.requests if r["path"] == "/"]
    assert len(set(peers)) == 3  # each call came from a new client port


def test_keepalive_reuses_connections(
    go_backend: tuple[FakeBackend, str], frontend_for: Any
) -> None:
    fake, backend = go_backend
    url = frontend_for(backend, backend_keepalive=True)
    for _ in range(3):
        httpx.get(url + "/api/card")
    peers = [r["peer"] for r in fake.requests if r["path"] == "/"]
    assert len(set(peers)) == 1
    assert fake.requests[-1]["headers"].get("connection") != "close"


def test_backend_down_is_a_503_card(frontend_for: Any) -> None:
    backend = closed_port_url()
    url = frontend_for(backend)
    started = time.monotonic()
    page = httpx.get(url + "/")
    assert page.status_code == 503 and f"no backend is listening at {backend}" in page.text
    card = httpx.get(url + "/api/card")
    assert card.status_code == 503 and card.json()["ok"] is False
    assert time.monotonic() - started < 3
    health = httpx.get(url + "/healthz")
    assert health.status_code == 503 and health.text.startswith("backend: ")
    assert httpx.get(url + "/livez").status_code == 200


def test_backend_hanging_is_a_503_within_the_timeout(frontend_for: Any) -> None:
    fake = FakeBackend({}, delay=2.5)
    with serve(fake.app()) as backend:
        url = frontend_for(backend.url, backend_timeout=0.5)
        started = time.monotonic()
        page = httpx.get(url + "/", timeout=10)
        assert page.status_code == 503 and "backend did not answer within 0.5 s" in page.text
        assert time.monotonic() - started < 2


def test_backend_answering_garbage_is_a_502(frontend_for: Any) -> None:
    app = Starlette(routes=[Route("/", lambda request: PlainTextResponse("<html>nginx</html>"))])
    with serve(app) as backend:
        url = frontend_for(backend.url)
        card = httpx.get(url + "/api/card")
        assert card.status_code == 502 and "not awsme's JSON" in card.json()["problem"]


def test_health_follows_the_backend_and_is_cached(frontend_for: Any) -> None:
    fake = FakeBackend({}, health=503)
    with serve(fake.app()) as backend:
        url = frontend_for(backend.url)
        for _ in range(20):
            assert httpx.get(url + "/healthz").status_code == 503
        checks = [r for r in fake.requests if r["path"] == "/healthz"]
        assert len(checks) <= 2  # cached for about a second, not one call per probe
        fake.health = 200
        time.sleep(1.1)
        assert httpx.get(url + "/healthz").status_code == 200


def test_security_headers(go_backend: tuple[FakeBackend, str], frontend_for: Any) -> None:
    url = frontend_for(go_backend[1])
    headers = httpx.get(url + "/").headers
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert headers["x-content-type-options"] == "nosniff"


def test_theme_follows_the_version_or_the_flag(
    go_backend: tuple[FakeBackend, str], frontend_for: Any
) -> None:
    default = httpx.get(frontend_for(go_backend[1]) + "/theme.css").text
    chosen = httpx.get(frontend_for(go_backend[1], ui_color="#ff8800") + "/theme.css").text
    assert "--accent: #" in default and "--accent: #ff8800;" in chosen


def test_note_forms_without_javascript(
    go_backend: tuple[FakeBackend, str], frontend_for: Any
) -> None:
    fake, backend = go_backend
    url = frontend_for(backend)
    added = httpx.post(url + "/add-note", data={"note": "from a form <b>"})
    assert added.status_code == 303 and added.headers["location"] == "/?fresh=1"
    assert json.loads(fake.requests[-1]["body"]) == {"Note": "from a form <b>"}


@pytest.fixture
def real_backend(tmp_path: Path) -> Iterator[str]:
    settings = Settings(mode="backend", metadata="simulated", db_url=f"sqlite:///{tmp_path}/n.db")
    with serve(create_backend_app(settings, {"POD_NAME": "backend-0"})) as server:
        wait_ready(server.url)
        yield server.url


def test_notes_through_the_frontend(real_backend: str, frontend_for: Any) -> None:
    url = frontend_for(real_backend)
    ok = httpx.post(url + "/add-note", json={"Note": "via the frontend 🚀"})
    assert (ok.status_code, ok.text) == (200, "Ok\n")
    refused = httpx.post(url + "/add-note", json={"Note": "   "})
    assert (refused.status_code, refused.text) == (400, "Error: note is empty\n")
    too_long = httpx.post(url + "/add-note", json={"Note": "x" * 1001})
    assert too_long.status_code == 400 and "longer than 1000" in too_long.text
    card = httpx.get(url + "/api/card").json()
    assert [note["text"] for note in card["notes"]["items"]] == ["via the frontend 🚀"]
    assert card["replica"] == {"key": "backend-0", "version": "2.0.0", "label": "backend-0"}
    note_id = card["notes"]["items"][0]["id"]
    assert httpx.delete(url + f"/api/notes/{note_id}").status_code == 204
    assert httpx.delete(url + f"/api/notes/{note_id}").status_code == 404
    assert httpx.delete(url + "/api/notes/abc").status_code == 400
    form = httpx.post(url + "/add-note", data={"note": ""})
    assert form.status_code == 400 and "note is empty" in form.text
    not_utf8 = httpx.post(
        url + "/add-note",
        content=b"note=%FF%FE",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert not_utf8.status_code == 400 and "not valid UTF-8" in not_utf8.text
    assert httpx.delete(url + "/api/notes/%C2%B2").status_code == 400
    assert httpx.get(url + "/api/card").json()["notes"]["items"] == []


def test_path_prefix(real_backend: str, frontend_for: Any) -> None:
    url = frontend_for(real_backend, path_prefix="/awsme")
    page = httpx.get(url + "/awsme/")
    assert page.status_code == 200 and "/awsme/static/" in page.text
    assert httpx.get(url + "/awsme", follow_redirects=False).headers["location"] == "/awsme/"
    assert httpx.get(url + "/awsme/api/card").json()["ok"] is True
    assert httpx.get(url + "/awsme/theme.css").status_code == 200
    assert httpx.get(url + "/awsme/static/app.css").status_code == 200
    added = httpx.post(url + "/awsme/add-note", data={"note": "behind an ingress"})
    assert added.status_code == 303 and added.headers["location"] == "/awsme/?fresh=1"
    for probe in ("/healthz", "/awsme/healthz", "/livez", "/awsme/readyz"):
        assert httpx.get(url + probe).status_code == 200, probe
    assert httpx.get(url + "/").status_code == 404  # only the prefix serves pages


def test_consecutive_loads_reach_different_replicas(tmp_path: Path, frontend_for: Any) -> None:
    from tests.tcp_proxy import RoundRobinProxy

    servers = []
    for name in ("backend-a", "backend-b"):
        settings = Settings(
            mode="backend", metadata="simulated", db_url=f"sqlite:///{tmp_path}/{name}.db"
        )
        server = LoopbackServer(create_backend_app(settings, {"POD_NAME": name})).start()
        wait_ready(server.url)
        servers.append(server)
    balancer = RoundRobinProxy([server.port for server in servers]).start()
    try:
        url = frontend_for(f"http://127.0.0.1:{balancer.port}")
        seen = [httpx.get(url + "/api/card").json()["replica"]["key"] for _ in range(4)]
        assert seen == ["backend-a", "backend-b", "backend-a", "backend-b"]
    finally:
        balancer.stop()
        for server in servers:
            server.stop()


def test_a_trickling_backend_hits_the_deadline(frontend_for: Any) -> None:
    """httpx's read timeout is per read; the frontend's deadline covers the call."""

    async def trickle(scope: Any, receive: Any, send: Any) -> None:
        import asyncio

        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(20):
            await send({"type": "http.response.body", "body": b" ", "more_body": True})
            await asyncio.sleep(0.2)
        await send({"type": "http.response.body", "body": b"{}"})

    with serve(trickle) as backend:
        url = frontend_for(backend.url, backend_timeout=0.5, backend_connect_timeout=0.5)
        started = time.monotonic()
        card = httpx.get(url + "/api/card", timeout=10)
        assert card.status_code == 503 and "did not answer within" in card.json()["problem"]
        assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    "instance",
    [
        {"kubernetes": "x", "container": 3, "events": {"maintenance": 5}},
        {"events": "soon", "placement": [1]},
        "not an object",
    ],
)
def test_odd_backend_json_is_shown_not_crashed_on(frontend_for: Any, instance: Any) -> None:
    document = json.loads((GO_SAMPLES / "backend-root.json").read_text())
    document.update({"Instance": instance, "NoteItems": ["x"], "Notes": "y"})
    with serve(FakeBackend(document).app()) as backend:
        url = frontend_for(backend.url)
        assert httpx.get(url + "/").status_code == 200
        assert httpx.get(url + "/api/card").json()["ok"] is True
        # Dates at the ends of the calendar: no time shown, no 500.
        for when in ("9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00", "not a date"):
            document["NoteItems"] = [{"id": 1, "text": "edge", "created_at": when}]
            for path in ("/", "/card", "/api/card"):
                assert httpx.get(url + path).status_code == 200, (when, path)


# ---- the card drawn once, on the server ----


def swapped_parts(html: str) -> dict[str, str]:
    """The top-level elements of a fragment (or of the page's parts), by id."""
    parts: dict[str, str] = {}
    for match in re.finditer(r'^<(\w+) [^>]*?\bid="([\w-]+)"', html, re.MULTILINE):
        tag, element_id = match.groups()
        start = match.start()
        depth, position = 0, start
        for tag_match in re.finditer(rf"<(/?){tag}\b[^>]*>", html[start:]):
            depth += -1 if tag_match.group(1) else 1
            if depth == 0:
                position = start + tag_match.end()
                break
        parts[element_id] = html[start:position]
    return parts


def test_the_fragment_is_the_pages_own_drawing(
    go_backend: tuple[FakeBackend, str], frontend_for: Any
) -> None:
    url = frontend_for(go_backend[1])
    fragment = httpx.get(url + "/card")
    assert fragment.status_code == 200
    assert fragment.headers["content-type"].startswith("text/html")
    assert fragment.headers["cache-control"] == "no-store"
    assert "unsafe-inline" not in fragment.headers["content-security-policy"]
    parts = swapped_parts(fragment.text)
    assert set(parts) == {
        "answered", "status-line", "alerts", "facts", "more-rows", "request",
        "notes-count", "notes-body", "add-note", "chaos",
    }  # fmt: skip
    page = httpx.get(url + "/").text
    for element_id, html in parts.items():
        # Byte for byte what the page has: one template draws both.
        assert " ".join(html.split()) in " ".join(page.split()), element_id
    assert "hello &lt;b&gt;x&lt;/b&gt;" in parts["notes-body"]
    # Nothing on the page runs or styles inline: the CSP forbids both.
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert " style=" not in page and "<style" not in page
    assert '<script type="module" src="/static/js/main.js"></script>' in page


def test_a_failed_call_changes_only_the_banner_and_the_status_line(frontend_for: Any) -> None:
    backend = closed_port_url()
    fragment = httpx.get(frontend_for(backend) + "/card")
    assert fragment.status_code == 503
    parts = swapped_parts(fragment.text)
    assert set(parts) == {"answered", "status-line"}
    assert 'class="answered is-failed"' in parts["answered"] and "no backend" in parts["answered"]
    assert "data-replica-key" not in parts["answered"]  # not the last replica, as if current
    assert f"no backend is listening at {backend}" in parts["status-line"]


class ClosingServer:
    """Accepts each connection and closes it at once, as a balancer with no live
    target does: the frontend's library says "Server disconnected"."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            connection.recv(1024)
            connection.close()

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("failure", ["closed", "timeout", "nothing"])
def test_errors_in_words_for_people_and_the_library_in_the_log(
    failure: str, frontend_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    closing = ClosingServer()
    slow = FakeBackend({}, delay=2)
    try:
        with serve(slow.app()) as slow_server:
            backend = {
                "closed": closing.url,
                "timeout": slow_server.url,
                "nothing": closed_port_url(),
            }[failure]
            url = frontend_for(backend, backend_timeout=0.5)
            with caplog.at_level(logging.WARNING, logger="awsme.frontend.backend_client"):
                card = httpx.get(url + "/api/card", timeout=10)
    finally:
        closing.close()
    said, raw = {
        "closed": ("backend closed the connection", "ServerDisconnectedError: Server disconnected"),
        "timeout": ("backend did not answer within 0.5 s", "TimeoutError"),
        "nothing": (f"no backend is listening at {backend}", "Cannot connect to host"),
    }[failure]
    assert card.status_code == 503 and card.json()["problem"] == said
    logged = [r.getMessage() for r in caplog.records if r.name.endswith("backend_client")]
    assert any(said in line and raw in line for line in logged), logged


def test_notes_unavailable_are_never_an_empty_list(frontend_for: Any) -> None:
    document = json.loads((GO_SAMPLES / "backend-root.json").read_text())
    document.update(
        {
            "Instance": {},
            "NoteItems": [{"id": 7, "text": "kept", "created_at": "2026-01-02T03:04:05+00:00"}],
            "Notes": ["kept"],
            "NotesError": None,
        }
    )
    fake = FakeBackend(document)
    with serve(fake.app()) as backend:
        url = frontend_for(backend.url)
        fresh = httpx.get(url + "/api/card").json()["notes"]
        assert fresh["problem"] is None and fresh["items"][0]["text"] == "kept"
        assert fresh["items"][0] == {
            "id": 7,
            "text": "kept",
            "created_at": "2026-01-02T03:04:05+00:00",
        }
        fake.document = {
            **document,
            "NoteItems": [],
            "Notes": [],
            "NotesError": "notes unavailable: the database is unavailable: Connection refused",
            "Error": "notes unavailable: the database is unavailable: Connection refused",
        }
        time.sleep(1.1)
        stale = httpx.get(url + "/api/card").json()["notes"]
        assert stale["problem"] == "the database is unavailable: Connection refused"
        assert stale["known"] is True and [n["text"] for n in stale["items"]] == ["kept"]
        assert stale["stale_seconds"] >= 1
        body = swapped_parts(httpx.get(url + "/card").text)
        assert "Notes are unavailable." in body["notes-body"] and "kept" in body["notes-body"]
        assert "No notes yet" not in body["notes-body"]
        assert 'data-notes="stale"' in body["notes-body"]
        assert "disabled" in body["add-note"] and "disabled" in body["notes-body"]
        assert body["notes-count"].endswith(">1</span>") and "is-stale" in body["notes-count"]
        # A frontend that never saw the list says it does not know it.
        unknown = swapped_parts(httpx.get(frontend_for(backend.url) + "/card").text)
        assert 'data-notes="unknown"' in unknown["notes-body"]
        assert "No notes yet" not in unknown["notes-body"]
        assert unknown["notes-count"].endswith(">?</span>")


def test_a_go_backend_with_its_database_gone(frontend_for: Any) -> None:
    document = dict.fromkeys(json.loads((GO_SAMPLES / "backend-root.json").read_text()), "")
    document.update({"Local": False, "Notes": None, "Error": "Error 1049: Unknown database"})
    with serve(FakeBackend(document).app()) as backend:
        notes = httpx.get(frontend_for(backend.url) + "/api/card").json()["notes"]
        assert notes == {
            "items": [],
            "problem": "Error 1049: Unknown database",
            "known": False,
            "stale_seconds": None,
        }


def test_banner_message_and_frontend_name(
    go_backend: tuple[FakeBackend, str], frontend_for: Any
) -> None:
    from awsme.frontend.app import create_frontend_app as create

    settings = Settings(
        mode="frontend", backend_service=go_backend[1], ui_message='v2 <script>alert("x")</script>'
    )
    with serve(create(settings, environ={"POD_NAME": "frontend-6b8d7c5f4-tq2lx"})) as frontend:
        page = httpx.get(frontend.url + "/").text
        parts = swapped_parts(httpx.get(frontend.url + "/card").text)
    assert (
        '<p class="banner-message" id="ui-message">'
        "v2 &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</p>" in page
    )
    assert '<span class="mono" id="frontend-name">frontend-6b8d7c5f4-tq2lx</span>' in page
    assert "frontend-6b8d7c5f4-tq2lx" in parts["status-line"]  # every poll says which frontend


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("backend-5f7c9d8b6-q9wzm", "backend-5f7c…-q9wzm"),
        ("backend-7d4b8c6f9-q9wzm", "backend-7d4b…-q9wzm"),  # a rollout: another hash
        ("awsme-backend-5f7c9d8b6-x2k4p", "awsme-b…-5f7c…-x2k4p"),
        ("web-0", "web-0"),  # a StatefulSet's pod: short, whole
        ("3f2a9c1b7d4e", "3f2a9c1b7d4e"),  # a container id
        ("ip-10-0-1-23.eu-west-1.compute.internal", "ip-10-0-1-2…internal"),
    ],
)
def test_replica_labels_keep_what_tells_replicas_apart(name: str, label: str) -> None:
    from awsme.frontend.card import LABEL_MAX, replica_label

    assert replica_label(name) == label
    assert len(label) <= LABEL_MAX


def test_one_card_is_one_connection_to_one_replica(tmp_path: Path, frontend_for: Any) -> None:
    """With one replica dead behind a per-connection balancer, every other card fails
    and says so: the frontend does not quietly try the next replica instead."""
    from tests.tcp_proxy import RoundRobinProxy

    settings = Settings(mode="backend", metadata="simulated", db_url=f"sqlite:///{tmp_path}/n.db")
    with serve(create_backend_app(settings, {"POD_NAME": "backend-live"})) as live:
        wait_ready(live.url)
        dead = int(closed_port_url().rsplit(":", 1)[1])
        balancer = RoundRobinProxy([live.port, dead]).start()
        try:
            url = frontend_for(f"http://127.0.0.1:{balancer.port}")
            statuses = [httpx.get(url + "/card").status_code for _ in range(6)]
            assert statuses == [200, 503] * 3
            assert balancer.connections == 6
            cards = [httpx.get(url + "/api/card").json() for _ in range(2)]
            assert [card["ok"] for card in cards] == [True, False]
            assert cards[1]["problem"] == "backend closed the connection"
        finally:
            balancer.stop()


def test_head_on_the_card(go_backend: tuple[FakeBackend, str], frontend_for: Any) -> None:
    url = frontend_for(go_backend[1])
    head = httpx.head(url + "/")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-type"].startswith("text/html")


def test_the_card_shows_no_secret_header(real_backend: str, frontend_for: Any) -> None:
    url = frontend_for(real_backend)
    secrets = {
        "X-Api-Key": "key-value-1",
        "X-Amzn-Oidc-Accesstoken": "token-value-2",
        "Cookie": "session=cookie-value-3",
        "Authorization": "Bearer auth-value-4",
    }
    card = httpx.get(url + "/api/card", headers=secrets).text
    page = httpx.get(url + "/", headers=secrets).text
    for value in ("key-value-1", "token-value-2", "cookie-value-3", "auth-value-4"):
        assert value not in card and value not in page
    assert "GET / HTTP/1.1" in card  # the request is shown, without them


HUGE_ID = "7" * 4301  # past Python's 4,300-digit limit for int()


def test_note_routes_bound_their_numbers(real_backend: str, frontend_for: Any) -> None:
    url = frontend_for(real_backend)
    assert httpx.delete(url + f"/api/notes/{HUGE_ID}").status_code == 404
    form = httpx.post(url + f"/notes/{HUGE_ID}/delete")
    assert form.status_code == 404 and "no note with id" in form.text
    huge_note = httpx.post(url + "/add-note", content='{"Note": ' + "1" * 5000 + "}")
    assert huge_note.status_code == 400 and "must be a string" in huge_note.text
    bad_key = httpx.post(url + "/add-note", json={"Note": "x"}, headers={"Idempotency-Key": "a b"})
    assert bad_key.status_code == 400 and "Idempotency-Key" in bad_key.text
    bad_form_key = httpx.post(url + "/add-note", data={"note": "x", "idempotency_key": "é"})
    assert bad_form_key.status_code == 400 and "Idempotency-Key" in bad_form_key.text
    assert httpx.get(url + "/api/card").json()["notes"]["items"] == []


class RecordingBackend:
    """A backend whose /add-note records its headers and answers after `delay`."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.adds: list[dict[str, str]] = []

    def app(self) -> Starlette:
        async def add_note(request: Request) -> Response:
            self.adds.append(dict(request.headers))
            await asyncio.sleep(self.delay)
            return PlainTextResponse("Ok\n")

        return Starlette(routes=[Route("/add-note", add_note, methods=["GET", "POST"])])


def test_every_add_carries_an_idempotency_key(frontend_for: Any) -> None:
    backend = RecordingBackend()
    with serve(backend.app()) as server:
        url = frontend_for(server.url)
        for _ in range(2):
            assert httpx.post(url + "/add-note", json={"Note": "x"}).status_code == 200
        assert httpx.post(url + "/add-note", data={"note": "x"}).status_code == 303
        given = {"Idempotency-Key": "page-key-1"}
        assert httpx.post(url + "/add-note", json={"Note": "x"}, headers=given).status_code == 200
        form = {"note": "x", "idempotency_key": "form-key-2"}
        assert httpx.post(url + "/add-note", data=form).status_code == 303
    keys = [add["idempotency-key"] for add in backend.adds]
    assert len(set(keys[:3])) == 3 and all(len(key) == 32 for key in keys[:3])
    assert keys[3:] == ["page-key-1", "form-key-2"]


def test_an_add_without_an_answer_is_not_confirmed(frontend_for: Any) -> None:
    backend = RecordingBackend(delay=2.0)
    with serve(backend.app()) as server:
        url = frontend_for(server.url, backend_timeout=0.3)
        given = {"Idempotency-Key": "retry-me"}
        answer = httpx.post(url + "/add-note", json={"Note": "x"}, headers=given, timeout=10)
        assert answer.status_code == 503
        assert answer.text.startswith("Error: not confirmed, retrying is safe (")
        assert "not added" not in answer.text
        assert answer.headers["idempotency-key"] == "retry-me"
        form = httpx.post(url + "/add-note", data={"note": "x"}, timeout=10)
        assert form.status_code == 503 and "not confirmed, retrying is safe" in form.text
    refused = frontend_for(closed_port_url())
    never_sent = httpx.post(refused + "/add-note", json={"Note": "x"})
    assert never_sent.status_code == 503 and "no backend is listening at" in never_sent.text
    assert "retrying is safe" not in never_sent.text


# ---- cross-site writes and forwarded chains ----

CROSS_SITE = [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
]


@pytest.mark.parametrize("headers", CROSS_SITE, ids=lambda h: next(iter(h.values())))
def test_cross_site_writes_are_refused(
    headers: dict[str, str], real_backend: str, frontend_for: Any
) -> None:
    url = frontend_for(real_backend)
    kept = httpx.post(url + "/add-note", json={"Note": "mine"})
    assert kept.status_code == 200
    (note_id,) = [n["id"] for n in httpx.get(url + "/api/card").json()["notes"]["items"]]
    attempts = [
        httpx.post(url + "/add-note", data={"note": "forged"}, headers=headers),
        httpx.post(url + "/add-note", json={"Note": "forged"}, headers=headers),
        httpx.post(url + f"/notes/{note_id}/delete", headers=headers),
        httpx.delete(url + f"/api/notes/{note_id}", headers=headers),
    ]
    for answer in attempts:
        assert answer.status_code == 403 and answer.text.startswith("Error: refused: ")
        assert "x-request-id" in answer.headers and "content-security-policy" in answer.headers
    notes = httpx.get(url + "/api/card").json()["notes"]["items"]
    assert [n["text"] for n in notes] == ["mine"], "nothing stored, nothing deleted"


def test_same_origin_and_headerless_writes_pass(real_backend: str, frontend_for: Any) -> None:
    url = frontend_for(real_backend)
    for headers in (
        {"Sec-Fetch-Site": "same-origin", "Origin": url},
        {"Sec-Fetch-Site": "none"},
        {"Origin": url},
        {},  # curl, scripts, the Go frontend: no browser, no forgery
    ):
        answer = httpx.post(url + "/add-note", json={"Note": f"ok {headers}"}, headers=headers)
        assert answer.status_code == 200, headers


def test_the_forwarded_chain_is_bounded(frontend_for: Any) -> None:
    backend = RecordingCardBackend()
    with serve(backend.app()) as server:
        url = frontend_for(server.url)
        hops = ", ".join(f"10.0.0.{i}" for i in range(50))
        long_hop = "x" * 10_000  # under the header cap, far over any address
        for chain in (hops, f"{long_hop}, 192.0.2.1"):
            answer = httpx.get(url + "/", headers={"X-Forwarded-For": chain}, timeout=30)
            assert answer.status_code == 200
    first, second = (seen["x-forwarded-for"] for seen in backend.seen)
    assert first.split(", ") == [f"10.0.0.{i}" for i in range(42, 50)] + ["127.0.0.1"]
    assert second == "192.0.2.1, 127.0.0.1"


class RecordingCardBackend:
    """A Go-like backend that records the headers of each GET /."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        self.document = json.loads((GO_SAMPLES / "backend-root.json").read_text())

    def app(self) -> Starlette:
        async def root(request: Request) -> Response:
            self.seen.append(dict(request.headers))
            return JSONResponse(self.document)

        return Starlette(routes=[Route("/", root)])


def test_an_imdsv1_fallback_is_a_notice_on_the_card(
    simulator: Any, tmp_path: Path, frontend_for: Any
) -> None:
    from tests.metadata.test_ec2 import refusing_token_requests

    with serve(refusing_token_requests(simulator.app, 405)) as imds:
        settings = Settings(
            mode="backend",
            metadata="ec2",
            metadata_endpoint=imds.url,
            db_url=f"sqlite:///{tmp_path}/n.db",
        )
        with serve(create_backend_app(settings, {})) as backend:
            wait_ready(backend.url)
            card = httpx.get(frontend_for(backend.url) + "/card").text
            info = httpx.get(backend.url + "/").json()
    assert info["Id"] == "i-0123456789abcdef0" and info["Error"] == ""
    notices = re.findall(r'data-alert="notice".*?<p>(.*?)</p>', card, re.DOTALL)
    assert notices == ["IMDS v1 (token refused: 405)"]
    assert 'class="status-line is-ok"' in card, "not a warning: the metadata is fine"


def test_the_card_of_an_ecs_task(tmp_path: Path, frontend_for: Any) -> None:
    """-metadata=auto finds ECS_CONTAINER_METADATA_URI_V4 (a fake agent on loopback): the
    card shows the cluster, the task, its definition, the launch type and the zone."""
    from tests.metadata.test_ecs import FakeEcs

    agent = FakeEcs()
    with serve(agent.app) as fake:
        environ = {"ECS_CONTAINER_METADATA_URI_V4": f"{fake.url}/v4/cd189a933e58-2495160603"}
        settings = Settings(
            mode="backend", db_url=f"sqlite:///{tmp_path}/n.db", dmi_dir=str(tmp_path)
        )
        assert settings.metadata == "auto"
        with serve(create_backend_app(settings, environ)) as backend:
            wait_ready(backend.url)
            card = httpx.get(frontend_for(backend.url) + "/card").text
    assert agent.paths, "the card's values came from the agent"
    rows = dict(re.findall(r'<dd data-row="(\w+)"[^>]*>(.*?)</dd>', card, re.DOTALL))
    task = "arn:aws:ecs:us-west-2:111122223333:task/default/cd189a933e5849daa93386466019ab50"
    assert {
        key: " ".join(value.split()) for key, value in rows.items() if key.startswith("ecs_")
    } == {
        "ecs_cluster": "default",
        "ecs_task": task.rsplit("/", 1)[1],
        "ecs_task_arn": task,
        "ecs_definition": "curltest:2",
        "ecs_launch_type": "FARGATE",
    }
    assert " ".join(rows["zone"].split()) == "us-west-2a"
