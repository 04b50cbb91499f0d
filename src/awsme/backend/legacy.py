"""`GET /`: the Go app's JSON, so that Go frontends and existing scripts keep working."""

from __future__ import annotations

import random
import re
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from awsme.backend.instance import instance_document
from awsme.backend.schemas import LegacyInfo
from awsme.metadata.cache import Snapshot
from awsme.notes.store import DELETED, STORED, Note, NotesUnavailable
from awsme.notes.validation import NoteRejected, idempotency_key, parse_note, read_body
from awsme.openapi import IDEMPOTENCY_KEY_PARAMETER, note_body
from awsme.replica import Replica

router = APIRouter(tags=["legacy"])

# A header whose name contains any of these words may carry a credential: it is
# shown as present, never with its value (X-Api-Key, X-Amzn-Oidc-Accesstoken,
# Proxy-Authorization, X-Aws-Ec2-Metadata-Token...). A rule, not a list of names:
# a header nobody thought of is redacted too.
SECRET_WORDS = re.compile(
    "authorization|cookie|token|secret|key|password|passwd|session|credential|signature|auth",
    re.IGNORECASE,
)


def is_secret_header(name: str) -> bool:
    return SECRET_WORDS.search(name) is not None


REDACTED = "[redacted]"


def _canonical(name: str) -> str:
    # Go's net/http canonicalises header names (user-agent -> User-Agent).
    return "-".join(part.capitalize() for part in name.split("-"))


def dump_request(request: Request) -> str:
    """The request line and headers as the Go app's httputil.DumpRequest wrote them:
    Host first, then the other headers sorted by name, secrets redacted."""
    scope = request.scope
    target = scope.get("raw_path", b"").decode("latin-1") or scope["path"]
    if scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin-1")
    lines = [f"{scope['method']} {target} HTTP/{scope.get('http_version', '1.1')}"]
    host = ""
    headers: dict[str, list[str]] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        if name == "host":
            host = value
            continue
        headers.setdefault(name, []).append(REDACTED if is_secret_header(name) else value)
    lines.append(f"Host: {host}")
    for name in sorted(headers, key=_canonical):
        lines.extend(f"{_canonical(name)}: {value}" for value in headers[name])
    return "\r\n".join(lines) + "\r\n\r\n"


# The notes' two keys, serialized once per list of notes: the requests that
# shared a read (awsme.notes.recent) get the same list, and share this too. One
# tuple, replaced whole (apps in threads of one process, in tests, share it); it
# holds its list, so that `is` never matches another list at the same address.
_notes_json: tuple[list[Note] | None, orjson.Fragment, orjson.Fragment] = (
    None,
    orjson.Fragment(b"[]"),
    orjson.Fragment(b"[]"),
)


def notes_json(notes: list[Note]) -> tuple[orjson.Fragment, orjson.Fragment]:
    """`Notes` and `NoteItems`, as JSON to place in the body as they are."""
    global _notes_json
    last = _notes_json
    if notes is not last[0]:
        last = _notes_json = (
            notes,
            orjson.Fragment(orjson.dumps([note.text for note in notes])),
            orjson.Fragment(orjson.dumps([note.as_json() for note in notes])),
        )
    return last[1], last[2]


def asks_no_cache(headers: list[tuple[bytes, bytes]]) -> bool:
    """Cache-Control: no-cache, read from the raw headers (ASGI names are lower
    case): no Headers object, and no KeyError raised when it is absent."""
    return any(name == b"cache-control" and b"no-cache" in value for name, value in headers)


def legacy_info(
    snapshot: Snapshot, replica: Replica, request: Request, notes: list[Note], error: str
) -> dict[str, Any]:
    """`error` is why the notes could not be read ("" when they were): a frontend
    must not mistake an outage for an empty list."""
    meta = snapshot.metadata
    errors = [message for message in (snapshot.error, error) if message]
    texts, items = notes_json(notes)
    return {
        "Id": (meta.instance_id if meta else None) or "",
        "Name": (meta.local_hostname if meta else None) or "",
        "Version": replica.version,
        "Hostname": (meta.public_hostname if meta else None) or replica.hostname,
        "Zone": (meta.zone if meta else None) or "",
        "Project": ((meta.project or meta.provider) if meta else None) or "",
        "ContainerIP": replica.container_ip,
        "InternalIP": (meta.local_ipv4 if meta else None) or "",
        "ExternalIP": (meta.public_ipv4 if meta else None) or "",
        "LBRequest": dump_request(request),
        "ClientIP": request.client.host if request.client else "",
        "Local": bool(meta and meta.local),
        "Notes": texts,
        "Error": "; ".join(errors),
        "Instance": instance_document(snapshot, replica),
        "NoteItems": items,
        "NotesError": error or None,
    }


@router.head("/", include_in_schema=False)  # curl -I and HEAD monitors, as with the Go app
@router.get(
    "/",
    response_class=Response,
    responses={
        200: {"model": LegacyInfo, "description": "the Go app's keys, plus Instance"},
        503: {
            "description": "a failure injected by -fail-percent",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
    },
    summary="Where this replica runs, in the Go app's format",
)
async def get_root(request: Request) -> Response:
    state = request.app.state.backend
    fail_percent = state.settings.fail_percent
    if fail_percent and random.uniform(0, 100) < fail_percent:
        return Response(
            f"Error: failure injected by -fail-percent={fail_percent:g}\n",
            status_code=503,
            media_type="text/plain",
        )
    snapshot = await state.cache.get()
    try:
        # A caller that just wrote a note asks for no cache, to see it at once.
        fresh = asks_no_cache(request.scope["headers"])
        notes, error = await state.notes.newest(state.settings.notes_limit, fresh=fresh), ""
    except NotesUnavailable as unavailable:
        # The metadata is still worth showing: answer 200 and say what is missing.
        notes, error = [], f"notes unavailable: {unavailable}"
    info = legacy_info(snapshot, state.replica, request, notes=notes, error=error)
    chaos = getattr(request.app.state, "chaos", None)  # only with -chaos
    if chaos is not None:
        info["Chaos"] = chaos.describe()  # so that the card shows why a pod is out
        info["ChaosSwitches"] = chaos.state()  # and draws its buttons as on or off
    body = orjson.dumps(info)
    return Response(body, media_type="application/json")


def _text(status: int, message: str) -> Response:
    return Response(message, status_code=status, media_type="text/plain; charset=utf-8")


ADD_NOTE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "`Ok`: the note is committed", "content": {"text/plain": {}}},
    400: {"description": "`Error: <reason>`; nothing stored", "content": {"text/plain": {}}},
    409: {
        "description": "the Idempotency-Key was used for another note; nothing stored",
        "content": {"text/plain": {}},
    },
    413: {"description": "body too large", "content": {"text/plain": {}}},
    503: {"description": "the database is unavailable", "content": {"text/plain": {}}},
}
# The key matches case-insensitively, as Go's decoder matched its struct field.
ADD_NOTE_EXTRA = {**note_body("Note"), "parameters": [IDEMPOTENCY_KEY_PARAMETER]}


@router.post(
    "/add-note",
    response_class=Response,
    responses=ADD_NOTE_RESPONSES,
    openapi_extra=ADD_NOTE_EXTRA,
    summary='Add a note: {"Note": "text"}',
)
@router.get(
    "/add-note",
    response_class=Response,
    responses=ADD_NOTE_RESPONSES,
    openapi_extra=ADD_NOTE_EXTRA,
    operation_id="add_note_with_a_get_body",
    summary="Add a note with a GET and a body, as the Go frontend sends it",
)
async def add_note(request: Request) -> Response:
    state = request.app.state.backend
    settings = state.settings
    try:
        key = idempotency_key(request)
        body = await read_body(request, settings.max_body_bytes)
        text = parse_note(body, key="Note", max_length=settings.note_max_length, fold_case=True)
        note, outcome = await state.notes.usable_store().add_once(text, key)
    except NoteRejected as rejected:
        return _text(rejected.status, f"Error: {rejected.reason}\n")
    except NotesUnavailable as unavailable:
        return _text(503, f"Error: notes unavailable: {unavailable}\n")
    if outcome == STORED:
        return _text(200, "Ok\n")
    if refusal := replay_refusal(note, outcome, text):
        return _text(409, f"Error: {refusal}\n")
    return _replayed(_text(200, "Ok\n"))


def replay_refusal(first: Note, outcome: str, text: str) -> str | None:
    """Why a repeated Idempotency-Key cannot answer its first result, if it cannot."""
    if first.text != text:
        return "this Idempotency-Key was already used for another note; nothing stored"
    if outcome == DELETED:
        return "the note stored with this Idempotency-Key has been deleted since; nothing stored"
    return None


def _replayed(response: Response) -> Response:
    response.headers["Idempotent-Replayed"] = "true"
    return response
