"""Headers that make every answer safe to show, on both roles and on every status,
errors included. The frontend's pages may run nothing but this origin's own
scripts, styles and images (the card must work air-gapped, and a note can never
become markup that runs); the backend's answers are data, which may run nothing."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# The frontend's pages.
PAGE_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, **_COMMON}
# JSON and plain text: the backend's answers, and the server's own refusals.
DATA_HEADERS = {"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'", **_COMMON}


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, headers: Mapping[str, str] = PAGE_HEADERS) -> None:
        self.app = app
        self.headers = [(name.lower().encode(), value.encode()) for name, value in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Each of ours that the app did not set itself.
                raw = list(message.get("headers", ()))
                present = {name.lower() for name, _ in raw}
                raw.extend(header for header in self.headers if header[0] not in present)
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, send_with_headers)
