"""`/api/v1/notes`: notes as JSON objects, listed newest first with a cursor."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field

from awsme.backend.legacy import replay_refusal
from awsme.jsonresponse import json_response
from awsme.notes.store import STORED, NotesUnavailable
from awsme.notes.validation import (
    MAX_NOTE_ID,
    NoteRejected,
    idempotency_key,
    parse_note,
    parse_positive_int,
    read_body,
)
from awsme.openapi import IDEMPOTENCY_KEY_PARAMETER, note_body

router = APIRouter(prefix="/api/v1/notes", tags=["notes"])

DEFAULT_PAGE = 20


class NoteOut(BaseModel):
    id: int
    text: str
    created_at: str | None = Field(description="ISO 8601, UTC")


class NotePage(BaseModel):
    notes: list[NoteOut] = Field(description="newest first")
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


class ErrorOut(BaseModel):
    error: str


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "bad input; nothing stored"},
    503: {"model": ErrorOut, "description": "the database is unavailable"},
}


def _error(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


def _optional(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    return None if raw is None else parse_positive_int(raw, name)


def _positive(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "integer", "minimum": 1},
    }


@router.get(
    "",
    response_class=Response,
    responses={200: {"model": NotePage}, **ERRORS},
    openapi_extra={
        "parameters": [
            _positive("limit", f"notes per page (default {DEFAULT_PAGE}, at most -notes-page-max)"),
            _positive("cursor", "next_cursor of the previous page"),
        ]
    },
    summary="List notes, newest first (?limit=, ?cursor=)",
)
async def list_notes(request: Request) -> Response:
    state = request.app.state.backend
    try:
        limit = _optional(request, "limit") or DEFAULT_PAGE
        cursor = _optional(request, "cursor")
        if cursor is not None and cursor > MAX_NOTE_ID:
            cursor = None  # every note is below it: the first page
        store = state.notes.usable_store()
        page, next_cursor = await store.page(min(limit, state.settings.notes_page_max), cursor)
    except NoteRejected as rejected:
        return _error(rejected.status, rejected.reason)
    except NotesUnavailable as error:
        return _error(503, str(error))
    return json_response(
        {
            "notes": [note.as_json() for note in page],
            "next_cursor": str(next_cursor) if next_cursor is not None else None,
        }
    )


@router.post(
    "",
    response_class=Response,
    status_code=201,
    openapi_extra={**note_body("text"), "parameters": [IDEMPOTENCY_KEY_PARAMETER]},
    responses={
        201: {"model": NoteOut, "description": "the note (the first one, for a repeated key)"},
        409: {
            "model": ErrorOut,
            "description": "the Idempotency-Key was used for another note, or its note is deleted",
        },
        413: {"model": ErrorOut},
        **ERRORS,
    },
    summary="Add a note",
)
async def create_note(request: Request) -> Response:
    state = request.app.state.backend
    settings = state.settings
    try:
        key = idempotency_key(request)
        body = await read_body(request, settings.max_body_bytes)
        text = parse_note(body, key="text", max_length=settings.note_max_length)
        note, outcome = await state.notes.usable_store().add_once(text, key)
    except NoteRejected as rejected:
        return _error(rejected.status, rejected.reason)
    except NotesUnavailable as error:
        return _error(503, str(error))
    if outcome != STORED and (refusal := replay_refusal(note, outcome, text)):
        return _error(409, refusal)
    headers = {"Location": f"/api/v1/notes/{note.id}"}
    if outcome != STORED:
        headers["Idempotent-Replayed"] = "true"  # the first answer, again
    return json_response(note.as_json(), 201, headers=headers)


@router.delete(
    "/{note_id}",
    response_class=Response,
    status_code=204,
    responses={404: {"model": ErrorOut}, **ERRORS},
    summary="Delete a note (soft delete, as the Go app's ORM did)",
)
async def delete_note(
    request: Request,
    # Parsed here, not by FastAPI: a bad id is a 400 with a reason, never a 422.
    note_id: Annotated[
        str, Path(json_schema_extra={"type": "integer", "minimum": 1}, description="the note's id")
    ],
) -> Response:
    state = request.app.state.backend
    try:
        identifier = parse_positive_int(note_id, "note id")
        deleted = identifier <= MAX_NOTE_ID and await state.notes.usable_store().delete(identifier)
    except NoteRejected as rejected:
        return _error(rejected.status, rejected.reason)
    except NotesUnavailable as error:
        return _error(503, str(error))
    if not deleted:
        return _error(404, f"no note with id {note_id}")
    return Response(status_code=204)
