"""Adding and deleting notes from the page: forwarded to the backend, whose status
reaches the browser. The page's script sends JSON; without JavaScript the forms
post, and are answered with a redirect back to the card or a page that says why."""

from __future__ import annotations

import contextlib
import uuid
from typing import Annotated
from urllib.parse import parse_qs

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from awsme.frontend.backend_client import (
    BackendAnswer,
    BackendUnavailable,
    forwarded_headers,
)
from awsme.frontend.openapi_doc import ADD_NOTE_DOC, DELETE_DOC, NOTE_ID
from awsme.frontend.pages import page_context, templates
from awsme.notes.validation import (
    IDEMPOTENCY_KEY,
    NoteRejected,
    check_idempotency_key,
    idempotency_key,
    parse_positive_int,
    read_body,
)

router = APIRouter()

FORM = "application/x-www-form-urlencoded"


def _is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip() == FORM


def _refusal(answer: BackendAnswer) -> str:
    text = answer.body.decode("utf-8", "replace").strip()
    if answer.content_type.startswith("application/json"):
        with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
            text = str(orjson.loads(answer.body).get("error", text))
    return text.removeprefix("Error: ")


def _back_to_card(request: Request) -> Response:
    prefix = request.app.state.frontend.settings.path_prefix
    # ?fresh: whichever replica answers shows the change at once.
    return RedirectResponse(prefix + "/?fresh=1", status_code=303)


def _message_page(
    request: Request, status: int, title: str, message: str, retry: dict[str, str] | None = None
) -> Response:
    return templates.TemplateResponse(
        request,
        "message.html",
        {
            **page_context(request),
            "status": status,
            "title": title,
            "message": message,
            "retry": retry,
        },
        status_code=status,
    )


def _unconfirmed(error: BackendUnavailable) -> tuple[str, str]:
    """(title, reason) for an add the backend did not confirm."""
    if error.may_have_arrived:  # the backend may have stored it: say so, not "not added"
        return "Note not confirmed", f"not confirmed, retrying is safe ({error})"
    return "Note not added", str(error)


@router.post("/add-note", **ADD_NOTE_DOC)
async def add_note(request: Request) -> Response:
    state = request.app.state.frontend
    form = _is_form(request)
    note_text = ""
    try:
        # The page's key when it sends one (so that its retries count once), else
        # one per request: the backend stores a note once per key.
        key = idempotency_key(request)
        body = await read_body(request, state.settings.max_body_bytes)
    except NoteRejected as rejected:
        if form:
            return _message_page(request, rejected.status, "Note not added", rejected.reason)
        return Response(f"Error: {rejected.reason}\n", rejected.status, media_type="text/plain")
    if form:
        try:
            fields = parse_qs(body.decode("ascii"), encoding="utf-8", errors="strict")
        except UnicodeError:
            return _message_page(request, 400, "Note not added", "the form is not valid UTF-8")
        note_text = fields.get("note", [""])[0]
        body = orjson.dumps({"Note": note_text})
        if field := fields.get("idempotency_key"):
            try:
                from_form = check_idempotency_key(field[0])  # checked even if unused
            except NoteRejected as rejected:
                return _message_page(request, 400, "Note not added", rejected.reason)
            key = key or from_form
    headers = forwarded_headers(request)
    headers[IDEMPOTENCY_KEY] = key = key or uuid.uuid4().hex
    try:
        answer = await state.client.call("POST", "/add-note", headers=headers, content=body)
    except BackendUnavailable as error:
        title, reason = _unconfirmed(error)
        if form:
            retry = {"note": note_text, "key": key} if error.may_have_arrived else None
            return _message_page(request, 503, title, reason, retry)
        return Response(
            f"Error: {reason}\n",
            503,
            media_type="text/plain; charset=utf-8",
            headers={IDEMPOTENCY_KEY: key},  # retry with it, and the note counts once
        )
    if form:
        if answer.status == 200:
            return _back_to_card(request)
        return _message_page(request, answer.status, "Note not added", _refusal(answer))
    return Response(
        answer.body, answer.status, media_type=answer.content_type or "text/plain; charset=utf-8"
    )


async def _delete(request: Request, note_id: str) -> BackendAnswer:
    state = request.app.state.frontend
    number = parse_positive_int(note_id, "note id")  # bounded: never 4,300 digits to int()
    headers = forwarded_headers(request)
    answer: BackendAnswer = await state.client.call(
        "DELETE", f"/api/v1/notes/{number}", headers=headers
    )
    return answer


@router.delete("/api/notes/{note_id}", **DELETE_DOC)
async def delete_note(request: Request, note_id: Annotated[str, NOTE_ID]) -> Response:
    try:
        answer = await _delete(request, note_id)
    except NoteRejected as rejected:
        return Response(
            orjson.dumps({"error": rejected.reason}), 400, media_type="application/json"
        )
    except BackendUnavailable as error:
        return Response(orjson.dumps({"error": str(error)}), 503, media_type="application/json")
    return Response(answer.body, answer.status, media_type=answer.content_type or None)


@router.post("/notes/{note_id}/delete")
async def delete_note_form(request: Request, note_id: str) -> Response:
    try:
        answer = await _delete(request, note_id)
    except NoteRejected as rejected:
        return _message_page(request, 400, "Note not deleted", rejected.reason)
    except BackendUnavailable as error:
        return _message_page(request, 503, "Note not deleted", str(error))
    if answer.status == 204:
        return _back_to_card(request)
    return _message_page(request, answer.status, "Note not deleted", _refusal(answer))
