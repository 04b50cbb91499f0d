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
    # Measured before int(): Python refuses to parse more than 4,300 digits.
    if declared and declared.isdigit() and (len(declared) > 18 or int(declared) > max_bytes):
        raise NoteRejected(f"body larger than {max_bytes} bytes", status=413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise NoteRejected(f"body larger than {max_bytes} bytes", status=413)
    return bytes(body)


class _Number:
    """A JSON number, kept as its text: never a note, and never handed to int(),
    which refuses more than 4,300 digits."""

    def __init__(self, text: str) -> None:
        self.text = text


_MISSING = object()


class _Object(dict[str, Any]):
    """A decoded JSON object, with the value of the key being looked for."""

    found: Any = _MISSING
    wrong_type = False


def _pick(key: str, fold: bool) -> Any:
    def pairs_hook(pairs: list[tuple[str, Any]]) -> _Object:
        document = _Object(pairs)
        for name, value in pairs:
            # Go's encoding/json decodes, in order, every key that matches the
            # field exactly or case-insensitively (in ASCII: no other letter folds
            # into "note"), so the last matching key wins; null leaves the field
            # as it was, and a value of another type fails the whole body.
            if name == key or (fold and name.isascii() and name.lower() == key.lower()):
                if value is not None or document.found is _MISSING:
                    document.found = value
                document.wrong_type |= value is not None and not isinstance(value, str)
        return document

    return pairs_hook


def parse_note(body: bytes, *, key: str, max_length: int, fold_case: bool = False) -> str:
    """The note's text from a JSON body `{key: "text"}`, checked. With fold_case,
    the key matches as Go's decoder matches a struct field: `note`, `NOTE`..."""
    try:
        decoded = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise NoteRejected(f"body is not valid UTF-8 (byte {error.start})") from None
    if not decoded.strip():
        raise NoteRejected(f'empty body: send JSON like {{"{key}": "text"}}')
    try:
        document: Any = json.loads(
            decoded,
            object_pairs_hook=_pick(key, fold_case),
            parse_int=_Number,
            parse_float=_Number,
            parse_constant=_Number,
        )
    except json.JSONDecodeError as error:
        raise NoteRejected(f"invalid JSON: {error}") from None
    except RecursionError:
        raise NoteRejected("invalid JSON: nested too deeply") from None
    if not isinstance(document, _Object):
        raise NoteRejected(f'body must be a JSON object like {{"{key}": "text"}}')
    if document.found is _MISSING:
        raise NoteRejected(f'missing "{key}"')
    text = document.found
    if document.wrong_type or not isinstance(text, str):
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


# Any number longer than this is beyond every id, limit and cursor: it becomes
# BEYOND without being parsed (int() refuses more than 4,300 digits).
MAX_DIGITS = 18
BEYOND = 10**MAX_DIGITS


def parse_positive_int(raw: str, name: str) -> int:
    """A whole number >= 1 written in ASCII digits (str.isdigit() also takes "²");
    anything above BEYOND counts as BEYOND."""
    if not (raw.isascii() and raw.isdigit()):
        raise NoteRejected(f"{name} must be a positive whole number")
    digits = raw.lstrip("0")
    if not digits:
        raise NoteRejected(f"{name} must be a positive whole number")
    return BEYOND if len(digits) > MAX_DIGITS else int(digits)


IDEMPOTENCY_KEY = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX = 128  # awsme.notes.schema.IDEMPOTENCY_KEY_LENGTH


def idempotency_key(request: Request) -> str | None:
    """The request's Idempotency-Key, checked: 1 to 128 visible ASCII characters
    (a UUID, a quoted structured-field string...); None when there is none."""
    values = request.headers.getlist(IDEMPOTENCY_KEY)
    if not values:
        return None
    if len(values) > 1:
        raise NoteRejected(f"more than one {IDEMPOTENCY_KEY} header")
    return check_idempotency_key(values[0])


def check_idempotency_key(key: str) -> str:
    if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX or not all("!" <= c <= "~" for c in key):
        raise NoteRejected(
            f"{IDEMPOTENCY_KEY} must be 1 to {IDEMPOTENCY_KEY_MAX} visible ASCII characters"
        )
    return key
