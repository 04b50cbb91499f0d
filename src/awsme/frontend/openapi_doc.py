"""What the frontend's OpenAPI document says about its routes: the JSON and text
ones (the card's values, adding and deleting notes, the probes); the pages are
for people and stay out of it."""

from __future__ import annotations

from typing import Any

from fastapi import Path
from fastapi.responses import PlainTextResponse

from awsme.openapi import IDEMPOTENCY_KEY_PARAMETER, TEXT, note_body, note_text_ref

FORM = "application/x-www-form-urlencoded"
# Parsed by the route, not FastAPI: a bad id is a 400 with a reason, never a 422.
NOTE_ID = Path(json_schema_extra={"type": "integer", "minimum": 1}, description="the note's id")

DOCUMENTED = frozenset(
    {"/api/card", "/add-note", "/api/notes/{note_id}"}
    | {"/healthz", "/livez", "/readyz", "/version", "/metrics"}
)
_CARD = {"type": "object", "required": ["ok", "status"]}
CARD_RESPONSES = {
    "200": {
        "description": "the card's values, from one backend call",
        "content": {"application/json": {"schema": _CARD}},
    },
    "502": {
        "description": "the backend answered something that is not awsme's JSON",
        "content": {"application/json": {"schema": _CARD}},
    },
    "503": {
        "description": "the backend did not answer; `problem` says why",
        "content": {"application/json": {"schema": _CARD}},
    },
}

_TEXT_OR_PAGE: dict[str, Any] = {"text/plain": {}, "text/html": {}}
ADD_NOTE_DOC: dict[str, Any] = {
    "response_class": PlainTextResponse,  # the document's 200; each answer sets its own
    "responses": {
        200: {"description": "`Ok` (a JSON body): the backend stored it", "content": TEXT},
        303: {"description": "a form: stored, back to the card"},
        400: {"description": "bad input; nothing stored", "content": _TEXT_OR_PAGE},
        409: {
            "description": "the Idempotency-Key was used for another note",
            "content": _TEXT_OR_PAGE,
        },
        413: {"description": "body too large", "content": _TEXT_OR_PAGE},
        503: {
            "description": "the backend is unavailable, or did not confirm the note in "
            "time (retrying with the same Idempotency-Key is safe)",
            "content": _TEXT_OR_PAGE,
        },
    },
    "openapi_extra": {
        "parameters": [IDEMPOTENCY_KEY_PARAMETER],
        "requestBody": {
            "required": True,
            "content": {
                **note_body("Note")["requestBody"]["content"],
                FORM: {
                    "schema": {
                        "type": "object",
                        "required": ["note"],
                        "properties": {
                            "note": note_text_ref(),
                            # A page without JavaScript sends it as a hidden field.
                            "idempotency_key": {
                                **IDEMPOTENCY_KEY_PARAMETER["schema"],
                                "minLength": 0,
                                "pattern": "^[!-~]*$",
                                "description": "as the Idempotency-Key header; empty: none",
                            },
                        },
                    }
                },
            },
        },
    },
}
DELETE_DOC: dict[str, Any] = {
    "status_code": 204,
    "responses": {
        400: {"description": "not a note id", "content": {"application/json": {}}},
        404: {"description": "no such note", "content": {"application/json": {}}},
        503: {"description": "the backend is unavailable", "content": {"application/json": {}}},
    },
}
