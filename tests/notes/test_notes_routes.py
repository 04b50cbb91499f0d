"""The notes routes of a real backend on loopback, on each database."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from awsme.backend.app import create_backend_app
from awsme.settings import Settings
from tests.databases import ThrowawayDatabase
from tests.loopback import serve, wait_ready

GO_SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "go-samples"


@pytest.fixture
def backend_on(database: ThrowawayDatabase) -> Iterator[Any]:
    contexts: list[Any] = []

    def start(**options: Any) -> str:
        settings = Settings(
            mode="backend",
            db_url=database.url,
            run_migrations=True,
            metadata="simulated",
            **options,
        )
        context = serve(create_backend_app(settings, {}))
        contexts.append(context)
        url: str = context.__enter__().url
        wait_ready(url)
        return url

    yield start
    for context in contexts:
        context.__exit__(None, None, None)


@pytest.fixture
def backend(backend_on: Any) -> str:
    url: str = backend_on()
    return url


def live_notes(url: str) -> list[str]:
    return [note["text"] for note in httpx.get(url + "/api/v1/notes?limit=100").json()["notes"]]


def test_legacy_add_note_and_root(backend: str) -> None:
    response = httpx.post(backend + "/add-note", json={"Note": "hello <b>x</b> 🚀"})
    go = (GO_SAMPLES / "add-note-ok.http.txt").read_text()
    assert (response.status_code, response.text) == (200, "Ok\n")
    assert "Content-Type: text/plain; charset=utf-8" in go
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    body = httpx.get(backend + "/").json()
    assert body["Notes"] == ["hello <b>x</b> 🚀"] and body["Error"] == ""


def test_go_frontends_get_with_a_chunked_body(backend: str) -> None:
    # Replay, byte for byte, what the Go frontend sends for /add-note.
    recorded = (GO_SAMPLES / "go-frontend-requests.txt").read_text()
    request = recorded.split("----- request as received by the backend -----\n")[2]
    head, chunks = request.split("\n\n", 1)
    raw = head.replace("\n", "\r\n").encode() + b"\r\n\r\n"
    raw += chunks.rstrip("\n").replace("\n", "\r\n").encode() + b"\r\n\r\n"
    port = int(backend.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"\r\n\r\nOk\n")
    assert live_notes(backend) == ["from browser"]


def test_root_returns_the_newest_notes_oldest_first(backend_on: Any) -> None:
    url = backend_on(notes_limit=3)
    for number in range(5):
        assert httpx.post(url + "/add-note", json={"Note": f"note {number}"}).status_code == 200
    assert httpx.get(url + "/").json()["Notes"] == ["note 2", "note 3", "note 4"]


def test_v1_create_list_delete(backend: str) -> None:
    created = httpx.post(backend + "/api/v1/notes", json={"text": "first"})
    assert created.status_code == 201
    note = created.json()
    assert set(note) == {"id", "text", "created_at"} and note["text"] == "first"
    assert created.headers["location"] == f"/api/v1/notes/{note['id']}"
    for number in range(4):
        httpx.post(backend + "/api/v1/notes", json={"text": f"more {number}"})
    page = httpx.get(backend + "/api/v1/notes?limit=2").json()
    assert [n["text"] for n in page["notes"]] == ["more 3", "more 2"]
    rest = httpx.get(backend + f"/api/v1/notes?limit=10&cursor={page['next_cursor']}").json()
    assert [n["text"] for n in rest["notes"]] == ["more 1", "more 0", "first"]
    assert rest["next_cursor"] is None
    assert httpx.delete(backend + f"/api/v1/notes/{note['id']}").status_code == 204
    assert httpx.delete(backend + f"/api/v1/notes/{note['id']}").status_code == 404
    assert httpx.delete(backend + "/api/v1/notes/424242").status_code == 404
    assert "first" not in live_notes(backend)


def test_page_size_is_capped(backend_on: Any) -> None:
    url = backend_on(notes_page_max=3)
    for number in range(5):
        httpx.post(url + "/api/v1/notes", json={"text": f"n{number}"})
    page = httpx.get(url + "/api/v1/notes?limit=1000").json()
    assert len(page["notes"]) == 3 and page["next_cursor"] is not None


BAD_BODIES: list[tuple[str, bytes, int, str]] = [
    ("empty body", b"", 400, "empty body"),
    ("invalid JSON", b'{"Note": "x"', 400, "invalid JSON"),
    ("not an object", b'["x"]', 400, "must be a JSON object"),
    ("missing key", b'{"other": "x"}', 400, "missing"),
    ("number", b'{"Note": 1}', 400, "must be a string"),
    ("null", b'{"Note": null}', 400, "must be a string"),
    ("list", b'{"Note": ["x"]}', 400, "must be a string"),
    ("empty note", b'{"Note": ""}', 400, "note is empty"),
    ("blank note", b'{"Note": "  \\t\\n "}', 400, "note is empty"),
    ("too long", b'{"Note": "' + b"y" * 1001 + b'"}', 400, "longer than 1000"),
    ("invalid UTF-8", b'{"Note": "\xff\xfe"}', 400, "not valid UTF-8"),
    ("lone surrogate", b'{"Note": "\\ud800"}', 400, "lone surrogate"),
    ("NUL", b'{"Note": "a\\u0000b"}', 400, "NUL"),
    ("huge body", b'{"Note": "' + b"z" * 70_000 + b'"}', 413, "larger than"),
    ("deep nesting", b"[" * 30_000 + b"]" * 30_000, 400, "nested too deeply"),
]


def test_bad_input_is_refused_and_stores_nothing(backend: str) -> None:
    for case, body, status, reason in BAD_BODIES:
        legacy = httpx.post(backend + "/add-note", content=body)
        assert legacy.status_code == status, case
        assert legacy.text.startswith("Error: ") and reason in legacy.text, case
        assert legacy.text.endswith("\n") and legacy.text.count("\n") == 1, case
        v1 = httpx.post(backend + "/api/v1/notes", content=body.replace(b'"Note"', b'"text"'))
        assert v1.status_code == status, case
        assert reason.replace("Note", "text") in v1.json()["error"], case
    assert live_notes(backend) == []


def test_bad_listing_parameters(backend: str) -> None:
    unicode_digits = ("limit=%C2%B2", "cursor=%D9%A3")  # "²" and "٣" pass str.isdigit()
    for query in ("limit=abc", "limit=0", "limit=-1", "cursor=x", "cursor=0", *unicode_digits):
        response = httpx.get(backend + "/api/v1/notes?" + query)
        assert response.status_code == 400, query
        assert "positive whole number" in response.json()["error"], query


def test_bad_delete_id(backend: str) -> None:
    for bad in ("abc", "%C2%B2", "0", "-3"):
        assert httpx.delete(backend + f"/api/v1/notes/{bad}").status_code == 400, bad


def test_ids_beyond_any_database_integer(backend: str) -> None:
    httpx.post(backend + "/api/v1/notes", json={"text": "kept"})
    huge = "9" * 40
    assert httpx.delete(backend + f"/api/v1/notes/{huge}").status_code == 404
    assert httpx.delete(backend + "/api/v1/notes/2147483648").status_code == 404
    page = httpx.get(backend + f"/api/v1/notes?cursor={huge}&limit={huge}")
    assert page.status_code == 200 and [n["text"] for n in page.json()["notes"]] == ["kept"]


def test_note_of_exactly_the_limit_is_accepted(backend_on: Any) -> None:
    url = backend_on(note_max_length=10)
    assert httpx.post(url + "/add-note", json={"Note": "🚀" * 10}).status_code == 200
    assert httpx.post(url + "/add-note", json={"Note": "🚀" * 11}).status_code == 400
    assert live_notes(url) == ["🚀" * 10]


def test_healthy_with_its_database(backend: str) -> None:
    assert httpx.get(backend + "/healthz").text == "ok\n"  # the 503 case: test_outages


def test_a_note_is_in_the_next_get_of_every_replica(database: ThrowawayDatabase) -> None:
    """Read your writes across replicas by default: no per-process notes cache."""
    replicas = []
    for name in ("a", "b"):
        settings = Settings(
            mode="backend", db_url=database.url, run_migrations=True, metadata="simulated"
        )
        context = serve(create_backend_app(settings, {"POD_NAME": name}))
        replicas.append((context, context.__enter__().url))
    try:
        (_, a), (_, b) = replicas
        wait_ready(a)
        wait_ready(b)
        for number in range(5):
            assert httpx.get(b + "/").json()["Notes"] == [f"n{i}" for i in range(number)]
            assert httpx.post(a + "/add-note", json={"Note": f"n{number}"}).status_code == 200
            # At once, with no waiting and no Cache-Control: the next GET of b has it.
            assert httpx.get(b + "/").json()["Notes"][-1] == f"n{number}"
    finally:
        for context, _ in replicas:
            context.__exit__(None, None, None)


def test_no_cache_reads_the_notes_afresh(backend_on: Any, database: ThrowawayDatabase) -> None:
    url = backend_on(notes_cache=1.0)
    assert httpx.get(url + "/").json()["Notes"] == []  # now cached for a second
    with serve(
        create_backend_app(Settings(mode="backend", db_url=database.url, metadata="simulated"), {})
    ) as other:
        wait_ready(other.url)
        httpx.post(other.url + "/add-note", json={"Note": "through the other replica"})
    assert httpx.get(url + "/").json()["Notes"] == []  # still the cached list
    fresh = httpx.get(url + "/", headers={"Cache-Control": "no-cache"}).json()["Notes"]
    assert fresh == ["through the other replica"]


HUGE = "1" * 5000  # past Python's 4,300-digit limit for int()


def test_numbers_past_python_int_limit_are_refused_or_bounded(backend: str) -> None:
    for path in ("/add-note", "/api/v1/notes"):
        key = "Note" if path == "/add-note" else "text"
        for body in (f'{{"{key}": {HUGE}}}', f'{{"{key}": [{HUGE}]}}', f"[{HUGE}]"):
            response = httpx.post(backend + path, content=body)
            assert response.status_code == 400, (path, body[:20])
        # Elsewhere in the body, a number of any size is ignored, as Go ignores it.
        ignored = httpx.post(backend + path, content=f'{{"{key}": "{path}", "n": {HUGE}}}')
        assert ignored.is_success, path
        legacy_get = httpx.request("GET", backend + "/add-note", content=f'{{"Note": {HUGE}}}')
        assert legacy_get.status_code == 400 and "must be a string" in legacy_get.text
    # Ids, limits and cursors beyond every note are answered as such, unparsed.
    assert httpx.delete(backend + "/api/v1/notes/" + "4" * 4301).status_code == 404
    page = httpx.get(backend + f"/api/v1/notes?limit={HUGE}&cursor={HUGE}")
    assert page.status_code == 200 and len(page.json()["notes"]) == 2
    padded = httpx.get(backend + "/api/v1/notes?limit=" + "0" * 5000 + "1")
    assert padded.status_code == 200 and len(padded.json()["notes"]) == 1
    for query in ("limit=" + "0" * 5000, "cursor=-" + HUGE):
        refused = httpx.get(backend + "/api/v1/notes?" + query)
        assert refused.status_code == 400 and "positive whole number" in refused.json()["error"]
    assert live_notes(backend) == ["/api/v1/notes", "/add-note"]


def test_the_note_key_matches_case_insensitively_as_in_go(backend: str) -> None:
    """Go's encoding/json matches a struct field's name in any case, and decodes
    every matching key in order: the last one wins, a null changes nothing, a
    value of another type fails the body."""
    accepted = {
        '{"note": "lower"}': "lower",
        '{"NOTE": "upper"}': "upper",
        '{"nOtE": "mixed"}': "mixed",
        '{"Note": "exact", "note": "last wins"}': "last wins",
        '{"note": "first", "Note": "exact last"}': "exact last",
        '{"Note": "kept", "NOTE": null}': "kept",
    }
    for body, text in accepted.items():
        response = httpx.post(backend + "/add-note", content=body)
        assert (response.status_code, response.text) == (200, "Ok\n"), body
        assert live_notes(backend)[0] == text, body
    refused = {
        '{"Note": "x", "note": 1}': "must be a string",
        '{"note": null}': "must be a string",
        '{"Notes": "x"}': 'missing "Note"',
        '{"N\\u00f6te": "x"}': 'missing "Note"',  # only ASCII letters fold
    }
    for body, reason in refused.items():
        response = httpx.post(backend + "/add-note", content=body)
        assert response.status_code == 400 and reason in response.text, body
    # The JSON API is ours, not Go's: its key is exact.
    assert httpx.post(backend + "/api/v1/notes", json={"TEXT": "x"}).status_code == 400
    assert len(live_notes(backend)) == len(accepted)


def test_head_on_root(backend: str) -> None:
    head = httpx.head(backend + "/")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == "application/json"


def test_a_repeated_idempotency_key_answers_the_first_result(backend: str) -> None:
    key = {"Idempotency-Key": "3f0c9b2e-retry-1"}
    first = httpx.post(backend + "/api/v1/notes", json={"text": "once"}, headers=key)
    again = httpx.post(backend + "/api/v1/notes", json={"text": "once"}, headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    other = httpx.post(backend + "/api/v1/notes", json={"text": "another"}, headers=key)
    assert other.status_code == 409 and "already used" in other.json()["error"]
    legacy_key = {"Idempotency-Key": "go-style-2"}
    for _ in range(3):
        legacy = httpx.post(backend + "/add-note", json={"Note": "legacy once"}, headers=legacy_key)
        assert (legacy.status_code, legacy.text) == (200, "Ok\n")
    clash = httpx.post(backend + "/add-note", json={"Note": "other"}, headers=legacy_key)
    assert clash.status_code == 409 and clash.text.startswith("Error: ")
    # Keys are compared exactly (MariaDB's default collation would not).
    upper = httpx.post(
        backend + "/add-note",
        json={"Note": "legacy once"},
        headers={"Idempotency-Key": "GO-STYLE-2"},
    )
    assert upper.status_code == 200
    # The Go frontend sends no key: each add stores a note, as it always did.
    for _ in range(2):
        assert httpx.post(backend + "/add-note", json={"Note": "no key"}).status_code == 200
    # Once its note is deleted, the key stores nothing again: a late retry never
    # brings a deleted note back, and says why.
    assert httpx.delete(backend + first.headers["location"]).status_code == 204
    after = httpx.post(backend + "/api/v1/notes", json={"text": "once"}, headers=key)
    assert after.status_code == 409 and "deleted since" in after.json()["error"]
    assert live_notes(backend) == ["no key", "no key", "legacy once", "legacy once"]
    for bad in ("", "a b", "x" * 129, "caf\u00e9"):
        refused = httpx.post(
            backend + "/api/v1/notes",
            json={"text": "bad key"},
            headers={"Idempotency-Key": bad.encode("utf-8")},  # type: ignore[dict-item]
        )
        assert refused.status_code == 400 and "Idempotency-Key" in refused.json()["error"], bad
    assert "bad key" not in live_notes(backend)


def test_concurrent_repeats_store_one_note(backend: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def add(number: int) -> httpx.Response:
        path, body = (
            ("/add-note", {"Note": "raced"}) if number % 2 else ("/api/v1/notes", {"text": "raced"})
        )
        return httpx.post(
            backend + path, json=body, headers={"Idempotency-Key": "race-1"}, timeout=20
        )

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(add, range(32)))
    assert all(answer.is_success for answer in answers), [a.status_code for a in answers]
    ids = {answer.json()["id"] for answer in answers if answer.status_code == 201}
    assert len(ids) == 1
    assert live_notes(backend) == ["raced"]
