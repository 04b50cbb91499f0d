"""The EC2 instance metadata service simulator (``app -mode=imds``), a Starlette app.

It answers like the real service: a PUT for a session token (IMDSv2), GETs under
``/latest/meta-data/`` and ``/latest/dynamic/`` with or without that token (IMDSv1
unless tokens are required), listings for directories, 404 for what is missing. Every
answer is text/plain, JSON documents included, as on a real instance. ``/_sim/``
(see control.py) drives the triggers and is not part of the real service.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from . import control
from .data import InstanceData, Node
from .state import SimulatorState

TOKEN_HEADER = "X-aws-ec2-metadata-token"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
MAX_TTL = 21600
TOKEN_PATH = "/latest/api/token"
_DIGITS = re.compile(r"[0-9]{1,6}")


def create_imds_app(
    data: InstanceData,
    *,
    require_token: bool = False,
    token_delay: float = 0.0,
    spot_action: str | None = None,
    spot_in: float = 120.0,
    maintenance_code: str | None = None,
    maintenance_in: float = 86400.0,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """Build a simulator for ``data``; ``spot_action``/``maintenance_code`` start it triggered.

    ``clock`` (epoch seconds) decides token expiry and trigger times, so tests can move it.
    Raises ValueError for an unknown spot action or maintenance code.
    """
    state = SimulatorState(data, require_token=require_token, token_delay=token_delay, clock=clock)
    if spot_action is not None:
        state.set_spot(spot_action, spot_in)
    if maintenance_code is not None:
        state.add_event(maintenance_code, maintenance_in)
    routes = [
        Route(TOKEN_PATH, token, methods=["PUT"]),
        Mount("/_sim", routes=control.routes()),
        Route("/{path:path}", get_path, methods=["GET"]),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(RequestLog)])
    app.state.simulator = state
    return app


def simulator_state(request: Request) -> SimulatorState:
    state: SimulatorState = request.app.state.simulator
    return state


class RequestLog:
    """Records every metadata request, so tests can count fetches and see what was asked."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path != "/_sim" and not path.startswith("/_sim/"):
                scope["app"].state.simulator.record(scope["method"], path)
        await self.app(scope, receive, send)


async def token(request: Request) -> Response:
    """PUT /latest/api/token: a session token for TTL seconds."""
    state = simulator_state(request)
    if state.token_delay > 0:
        await _sleep_unless_gone(request, state.token_delay)
    # The real service refuses tokens to proxied requests, so that a proxy on the
    # instance cannot hand them out.
    if "x-forwarded-for" in request.headers:
        return PlainTextResponse("Forbidden", 403)
    raw = request.headers.get(TTL_HEADER)
    if raw is None:
        return PlainTextResponse(f"Bad Request: missing {TTL_HEADER}", 400)
    ttl = int(raw) if _DIGITS.fullmatch(raw) else 0
    if not 1 <= ttl <= MAX_TTL:
        return PlainTextResponse(
            f"Bad Request: {TTL_HEADER} must be an integer from 1 to {MAX_TTL}", 400
        )
    return PlainTextResponse(state.issue_token(ttl), headers={TTL_HEADER: str(ttl)})


async def _sleep_unless_gone(request: Request, seconds: float) -> None:
    """Hold the answer like a dropped packet would; stop early once the client gives up."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if await request.is_disconnected():
            return
        await asyncio.sleep(min(left, 0.05))


async def get_path(request: Request) -> Response:
    """GET anything else: a listing, a leaf, or 404."""
    if request.url.path == TOKEN_PATH:
        # This catch-all would otherwise take the GET that only the PUT route refuses.
        return PlainTextResponse("Method Not Allowed", 405, headers={"Allow": "PUT"})
    state = simulator_state(request)
    supplied = request.headers.get(TOKEN_HEADER)
    if (supplied is None and state.require_token) or (
        supplied is not None and not state.token_valid(supplied)
    ):
        return PlainTextResponse("Unauthorized", 401)
    path: str = request.path_params["path"]
    is_dir_path = path == "" or path.endswith("/")
    node: Node = state.root
    for part in path.removesuffix("/").split("/") if path else ():
        if isinstance(node, str) or part not in node:
            return PlainTextResponse("Not Found", 404)
        node = node[part]
    if isinstance(node, str):
        if is_dir_path:
            return PlainTextResponse("Not Found", 404)
        return PlainTextResponse(node)
    # A directory answers its listing with or without the trailing slash, as the real one.
    listing = sorted(
        name + "/" if not isinstance(child, str) else name for name, child in node.items()
    )
    return PlainTextResponse("\n".join(listing))
