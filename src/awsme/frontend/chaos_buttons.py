"""The card's chaos buttons: each is a form that posts here, and the frontend
forwards it to its backend's /chaos routes (which exist when the backend runs with
-chaos). Cross-site posts are refused like every other write (SameOriginWrites).
Without JavaScript the answer is a redirect back to the card; the page's script
asks for JSON and redraws the card in place, keeping its chart."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from awsme.frontend.backend_client import BackendUnavailable, forwarded_headers
from awsme.frontend.notes import _message_page, _refusal
from awsme.jsonresponse import json_response

router = APIRouter()

MAX_FORM_BYTES = 1024
# switch -> (the backend call that turns it on, the one that turns it off)
SWITCHES: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "readyz": (("POST", "/chaos/probes/readyz"), ("DELETE", "/chaos/probes/readyz")),
    "livez": (("POST", "/chaos/probes/livez"), ("DELETE", "/chaos/probes/livez")),
    "latency": (("POST", "/chaos/latency?ms=500"), ("POST", "/chaos/latency?ms=0")),
    "errors": (("POST", "/chaos/errors?percent=20"), ("POST", "/chaos/errors?percent=0")),
    "cpu": (("POST", "/chaos/cpu?seconds=60"), ("DELETE", "/chaos/cpu")),
    "memory": (("POST", "/chaos/memory?mb={mb}"), ("DELETE", "/chaos/memory")),
    "all": (("DELETE", "/chaos"), ("DELETE", "/chaos")),
}
DEFAULT_MB = 64


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _call(fields: dict[str, list[str]]) -> tuple[str, str]:
    """The backend call a form asks for; ValueError with the reason when it is bad."""
    switch = fields.get("switch", [""])[0]
    if switch not in SWITCHES:
        raise ValueError(f"switch must be one of {', '.join(SWITCHES)}")
    on = fields.get("on", ["1"])[0] != "0"
    method, path = SWITCHES[switch][0 if on else 1]
    mb = fields.get("mb", [str(DEFAULT_MB)])[0]
    if "{mb}" in path:
        if not (mb.isascii() and mb.isdigit() and 0 < len(mb) <= 7):
            raise ValueError("mb must be a whole number of megabytes")
        path = path.format(mb=int(mb))
    return method, path


@router.post("/chaos-switch", include_in_schema=False)
async def flip(request: Request) -> Response:
    state = request.app.state.frontend
    as_json = _wants_json(request)

    def refused(status: int, reason: str) -> Response:
        if as_json:
            return json_response({"error": reason}, status)
        return _message_page(request, status, "Switch not flipped", reason)

    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return refused(413, "the form is too large")
    try:
        fields = parse_qs(body.decode("ascii"), errors="strict")
        method, path = _call(fields)
    except UnicodeError:
        return refused(400, "the form is not ASCII")
    except ValueError as error:
        return refused(400, str(error))
    try:
        answer = await state.client.call(method, path, headers=forwarded_headers(request))
    except BackendUnavailable as error:
        return refused(503, str(error))
    if answer.status == 404:
        return refused(409, "the backend that answered does not run with -chaos")
    if answer.status != 200:
        return refused(answer.status, _refusal(answer))
    if as_json:
        return Response(answer.body, 200, media_type="application/json")
    return RedirectResponse(state.settings.path_prefix + "/", status_code=303)
