"""The card: `GET /` as HTML, `GET /api/card` as JSON for the page's auto-refresh,
and the theme colour. Each one makes exactly one backend call."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.templating import Jinja2Templates

from awsme.frontend.backend_client import BackendUnavailable, forwarded_headers
from awsme.frontend.card import Card, card_from_backend, unavailable_card
from awsme.frontend.theme import theme_css
from awsme.jsonresponse import json_response
from awsme.version import VERSION

router = APIRouter()
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.auto_reload = False  # packaged templates never change: no stat() per render


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
        card, status = unavailable_card(str(error)), error.status
    else:
        card, status = card_from_backend(info), 200
    chaos = getattr(request.app.state, "chaos", None)  # only with -chaos
    if chaos is not None and chaos.active:
        lines = [f"Chaos on the frontend: {line}" for line in chaos.describe()]
        card = dataclasses.replace(card, notices=card.notices + lines)
    return card, status


def page_context(request: Request) -> dict[str, object]:
    settings = request.app.state.frontend.settings
    return {
        "prefix": settings.path_prefix,
        "version": VERSION,
        "refresh_ms": round(settings.refresh_interval * 1000),
    }


@router.get("/")
async def card_page(request: Request) -> Response:
    card, status = await load_card(request)
    return templates.TemplateResponse(
        request,
        "index.html",
        {**page_context(request), "card": card, "status": status},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/api/card")
async def card_json(request: Request) -> Response:
    card, status = await load_card(request)
    return json_response(
        {**card.as_json(), "status": status},
        status,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/theme.css")
async def theme(request: Request) -> Response:
    settings = request.app.state.frontend.settings
    return Response(theme_css(VERSION, settings.ui_color), media_type="text/css")
