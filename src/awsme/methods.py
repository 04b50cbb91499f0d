"""405 answers whose `Allow` lists every method the path serves.

Starlette answers 405 from the first route whose path matches and names that
route's methods only: `/healthz`, declared as a GET route and a HEAD route,
answered `OPTIONS /healthz` with `Allow: HEAD`. Clients and the OpenAPI checks
read `Allow` as the whole list.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from starlette.exceptions import HTTPException
from starlette.routing import Match

from awsme.jsonresponse import json_response

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _serves(app: FastAPI, request: Request, method: str) -> bool:
    scope = {**request.scope, "method": method}
    return any(route.matches(scope)[0] == Match.FULL for route in app.router.routes)


def install_allow_header(app: FastAPI) -> None:
    async def method_not_allowed(request: Request, error: Exception) -> Response:
        allowed = [method for method in METHODS if _serves(app, request, method)]
        detail = error.detail if isinstance(error, HTTPException) else "Method Not Allowed"
        return json_response({"detail": detail}, 405, headers={"Allow": ", ".join(allowed)})

    app.add_exception_handler(405, method_not_allowed)
