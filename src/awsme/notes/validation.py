"""What a note may be: every refusal is a 4xx with a reason, and stores nothing."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

NUL = "\x00"


class NoteRejected(Exception):
    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body (chunked or not, whatever the method), at most max_bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise NoteRejected(f"body larger than {max_bytes} bytes", status=413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise NoteRejected(f"body larger than {max_bytes} bytes", status=413)
    return bytes(body)


def parse_note(body: bytes, *, key: str, max_length: int) -> str:
    """The note's text from a JSON body `{key: "text"}`, checked."""
    try:
        decoded = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise NoteRejected(f"body is not valid UTF-8 (byte {error.start})") from None
    if not decoded.strip():
        raise NoteRejected(f'empty body: send JSON like {{"{key}": "text"}}')
    try:
        document: Any = json.loads(decoded)
    except json.JSONDecodeError as error:
        raise NoteRejected(f"invalid JSON: {error}") from None
    except RecursionError:
        raise NoteRejected("invalid JSON: nested too deeply") from None
    if not isinstance(document, dict):
        raise NoteRejected(f'body must be a JSON object like {{"{key}": "text"}}')
    if key not in document:
        raise NoteRejected(f'missing "{key}"')
    text = document[key]
    if not isinstance(text, str):
        raise NoteRejected(f'"{key}" must be a string')
    return check_note(text, max_length=max_length)


def check_note(text: str, *, max_length: int) -> str:
    if not text.strip():
        raise NoteRejected("note is empty")
    if len(text) > max_length:
        raise NoteRejected(f"note is longer than {max_length} characters ({len(text)})")
    if NUL in text:
        raise NoteRejected("note contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which JSON's \\ud800 escapes allow
        raise NoteRejected("note is not valid Unicode (lone surrogate)") from None
    return text


# Note ids are 32-bit in every database (gorm made them int unsigned; PostgreSQL's
# serial is int4): a larger number can name no note.
MAX_NOTE_ID = 2**31 - 1


def parse_positive_int(raw: str, name: str) -> int:
    """A whole number >= 1 written in ASCII digits (str.isdigit() also takes "²")."""
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise NoteRejected(f"{name} must be a positive whole number")
    return int(raw)
