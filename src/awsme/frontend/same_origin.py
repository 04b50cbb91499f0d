"""Cross-site request forgery: the card's forms change state (add and delete notes), so
another site must not be able to post them from a visitor's browser.

Browsers say where a request comes from: `Sec-Fetch-Site` (every current browser) or,
failing that, `Origin`. A request that says it comes from another site is refused with
403; one that says nothing is not a browser's cross-site form (curl, the Go frontend,
scripts) and goes through, as it always has."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# "none": typed, bookmarked or reloaded by the user; "same-origin": the card itself.
TRUSTED_FETCH_SITES = frozenset({"same-origin", "none"})


def cross_site_reason(headers: dict[str, str]) -> str | None:
    """Why the request is cross-site, or None when it is not (or cannot tell)."""
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None:
        if fetch_site in TRUSTED_FETCH_SITES:
            return None
        return (
            f"the browser says this request comes from another site (Sec-Fetch-Site: {fetch_site})"
        )
    origin = headers.get("origin")
    if origin is None:
        return None
    host = headers.get("host", "")
    if origin == "null" or urlsplit(origin).netloc.lower() != host.lower():
        return f"the request comes from {origin}, not from this card ({host})"
    return None


class SameOriginWrites:
    """Refuses state-changing requests that a browser marks as cross-site."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            if reason := cross_site_reason(headers):
                refusal = PlainTextResponse(f"Error: refused: {reason}\n", status_code=403)
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)
