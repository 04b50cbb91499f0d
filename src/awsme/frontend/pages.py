"""The card: `GET /` as a page, `GET /card` as the fragment the page's auto-refresh
swaps in, `GET /api/card` as JSON for scripts, and the theme colour. Each one makes
exactly one backend call; the templates are the only drawing of the card."""

from __future__ import annotations

import dataclasses
import re
import time
import uuid
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from awsme.frontend.backend_client import BackendUnavailable, forwarded_headers
from awsme.frontend.card import Card, NotesView, ago, card_from_backend, remember_notes
from awsme.frontend.theme import theme_css
from awsme.jsonresponse import json_response
from awsme.ops.observe import BACKEND_SERVED_BY
from awsme.version import VERSION

router = APIRouter()
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.auto_reload = False  # packaged templates never change: no stat() per render
templates.env.globals["ago"] = ago
templates.env.globals["new_idempotency_key"] = lambda: uuid.uuid4().hex

_ICON = Markup(
    '<svg class="{}" aria-hidden="true" focusable="false"><use href="#i-{}"></use></svg>'
)


def icon(name: str, cls: str = "icon") -> Markup:
    """A symbol of the page's sprite (_sprite.html). A function rather than a
    template macro: a macro call costs ten times more, and the card draws dozens."""
    return _ICON.format(cls, name)


templates.env.globals["icon"] = icon


NO_STORE = {"Cache-Control": "no-store"}
HEADER_SAFE = re.compile(r"[\x21-\x7e]{1,253}")  # visible ASCII: a pod or host name


async def load_card(request: Request) -> tuple[Card, int]:
    """The card from one backend call, and the HTTP status to answer with."""
    state = request.app.state.frontend
    headers = forwarded_headers(request)
    if "fresh" in request.query_params:
        # Right after a change: notes the backend has not cached (see -notes-cache).
        headers["Cache-Control"] = "no-cache"
    try:
        info = await state.client.info(headers)
    except BackendUnavailable as error:
        problem = str(error)
        unknown = NotesView(problem=f"no backend answered: {problem}", known=False)
        card, status = Card(ok=False, problem=problem, notes=unknown), error.status
    else:
        card, status = card_from_backend(info), 200
    # An outage shows the last list this frontend saw, with its age, never an empty one.
    notes, state.notes_memory = remember_notes(card.notes, state.notes_memory, time.time())
    card = dataclasses.replace(card, notes=notes)
    chaos = getattr(request.app.state, "chaos", None)  # only with -chaos
    if chaos is not None and chaos.active:
        lines = [f"Chaos on the frontend: {line}" for line in chaos.describe()]
        card = dataclasses.replace(card, notices=card.notices + lines)
    return card, status


def answer_headers(card: Card) -> dict[str, str]:
    """No caching; and which backend replica made this card, beside the frontend's own
    X-Served-By (both tiers of the balancing, for `app -mode=load` and `curl -I`)."""
    if card.replica is None or not HEADER_SAFE.fullmatch(card.replica.key):
        return NO_STORE  # the name comes from the backend's JSON: never a broken header
    return {**NO_STORE, BACKEND_SERVED_BY: card.replica.key}


def page_context(request: Request) -> dict[str, object]:
    state = request.app.state.frontend
    settings = state.settings
    return {
        "prefix": settings.path_prefix,
        "version": VERSION,
        "refresh_ms": round(settings.refresh_interval * 1000),
        "frontend_name": state.name,
        "ui_message": settings.ui_message,
        "now": time.time(),
    }


async def draw_card(request: Request, template: str) -> Response:
    card, status = await load_card(request)
    return templates.TemplateResponse(
        request,
        template,
        {**page_context(request), "card": card, "status": status},
        status_code=status,
        headers=answer_headers(card),
    )


@router.get("/")
async def card_page(request: Request) -> Response:
    return await draw_card(request, "index.html")


@router.get("/card")
async def card_fragment(request: Request) -> Response:
    """The parts the poll swaps in, drawn by the same macros as the page."""
    return await draw_card(request, "fragment.html")


@router.get("/api/card")
async def card_json(request: Request) -> Response:
    card, status = await load_card(request)
    return json_response({**card.as_json(), "status": status}, status, headers=answer_headers(card))


@router.get("/theme.css")
async def theme(request: Request) -> Response:
    settings = request.app.state.frontend.settings
    return Response(theme_css(VERSION, settings.ui_color), media_type="text/css")
