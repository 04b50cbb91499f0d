"""``/_sim/``: the simulator's own control API, to trigger events and inspect traffic.

Not part of the real metadata service and never subject to tokens. Every query
parameter is checked; a bad one is a 400 with a one-line reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from .state import MAINTENANCE_CODES, SPOT_ACTIONS, SimulatorState

MAX_IN = 365 * 86400.0
MAX_TOKEN_DELAY = 3600.0


def routes() -> list[BaseRoute]:
    return [
        Route("/state", get_state, methods=["GET"]),
        Route("/spot", set_spot, methods=["POST"]),
        Route("/spot", clear_spot, methods=["DELETE"]),
        Route("/maintenance", add_maintenance, methods=["POST"]),
        Route("/maintenance", clear_maintenance, methods=["DELETE"]),
        Route("/require-token", set_require_token, methods=["POST"]),
        Route("/token-delay", set_token_delay, methods=["POST"]),
        Route("/requests", get_requests, methods=["GET"]),
        Route("/requests", clear_requests, methods=["DELETE"]),
    ]


def _state(request: Request) -> SimulatorState:
    state: SimulatorState = request.app.state.simulator
    return state


def _summary(request: Request) -> JSONResponse:
    return JSONResponse(_state(request).summary())


def _params(request: Request, allowed: Mapping[str, str | None]) -> dict[str, str]:
    """The query as a dict, with defaults; a missing required, unknown or repeated one: 400."""
    query = request.query_params
    for name in query:
        if name not in allowed:
            raise HTTPException(400, f"unknown query parameter {name!r}")
        if len(query.getlist(name)) > 1:
            raise HTTPException(400, f"query parameter {name!r} given more than once")
    values: dict[str, str] = {}
    for name, default in allowed.items():
        value = query.get(name, default)
        if value is None:
            raise HTTPException(400, f"missing query parameter {name!r}")
        values[name] = value
    return values


def _seconds(name: str, raw: str, maximum: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 <= value <= maximum:  # also false for nan
        raise HTTPException(400, f"{name} must be a number of seconds from 0 to {maximum:g}")
    return value


def _choice(name: str, raw: str, choices: tuple[str, ...]) -> str:
    if raw not in choices:
        raise HTTPException(400, f"{name} must be one of {', '.join(choices)}")
    return raw


async def get_state(request: Request) -> JSONResponse:
    _params(request, {})
    return _summary(request)


async def set_spot(request: Request) -> JSONResponse:
    """POST /_sim/spot?action=terminate&in=120: an interruption notice, ``in`` seconds ahead."""
    query = _params(request, {"action": "terminate", "in": "120"})
    action = _choice("action", query["action"], SPOT_ACTIONS)
    _state(request).set_spot(action, _seconds("in", query["in"], MAX_IN))
    return _summary(request)


async def clear_spot(request: Request) -> JSONResponse:
    _params(request, {})
    _state(request).clear_spot()
    return _summary(request)


async def add_maintenance(request: Request) -> JSONResponse:
    """POST /_sim/maintenance?code=system-reboot&in=86400: one more scheduled event."""
    query = _params(request, {"code": "system-reboot", "in": "86400"})
    code = _choice("code", query["code"], tuple(MAINTENANCE_CODES))
    _state(request).add_event(code, _seconds("in", query["in"], MAX_IN))
    return _summary(request)


async def clear_maintenance(request: Request) -> JSONResponse:
    _params(request, {})
    _state(request).clear_events()
    return _summary(request)


async def set_require_token(request: Request) -> JSONResponse:
    """POST /_sim/require-token?enabled=true|false: switch between IMDSv1-allowed and v2-only."""
    raw = _params(request, {"enabled": None})["enabled"]
    _state(request).require_token = _choice("enabled", raw, ("true", "false")) == "true"
    return _summary(request)


async def set_token_delay(request: Request) -> JSONResponse:
    """POST /_sim/token-delay?seconds=N: hold token answers, as a hop limit of 1 would."""
    raw = _params(request, {"seconds": None})["seconds"]
    _state(request).token_delay = _seconds("seconds", raw, MAX_TOKEN_DELAY)
    return _summary(request)


async def get_requests(request: Request) -> JSONResponse:
    _params(request, {})
    return JSONResponse(list(_state(request).requests))


async def clear_requests(request: Request) -> JSONResponse:
    _params(request, {})
    _state(request).clear_requests()
    return _summary(request)
