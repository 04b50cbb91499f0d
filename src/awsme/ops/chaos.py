"""`-chaos`: switches a workshop presenter flips over HTTP to show what probes,
rollouts and load balancers do when things go wrong (kuard's and podinfo's
levers). Without -chaos none of these routes exist.

    POST   /chaos/probes/readyz?count=3   the next 3 /readyz checks fail
    POST   /chaos/probes/livez            /livez fails until switched back
    DELETE /chaos/probes/livez            switched back
    POST   /chaos/latency?ms=500          every app route waits 500 ms first
    POST   /chaos/errors?percent=20       20% of app requests answer 503
    GET    /chaos                         the current state
    DELETE /chaos                         everything back to normal

Probes, /metrics, /version and /chaos itself are exempt from latency and errors,
so that the switches stay reachable and Prometheus keeps seeing the pod.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from awsme.jsonresponse import json_response

PROBES = ("healthz", "livez", "readyz")
EXEMPT = ("/healthz", "/livez", "/readyz", "/metrics", "/version", "/chaos", "/static/")
MAX_LATENCY_MS = 60_000


@dataclass
class Chaos:
    # probe -> failures left (None: until switched back)
    failing_probes: dict[str, int | None] = field(default_factory=dict)
    latency_ms: int = 0
    error_percent: float = 0.0

    def probe_fails(self, probe: str) -> bool:
        """Whether this check of `probe` must fail; counts one failure down."""
        if probe not in self.failing_probes:
            return False
        left = self.failing_probes[probe]
        if left is not None:
            if left <= 1:
                del self.failing_probes[probe]
            else:
                self.failing_probes[probe] = left - 1
        return True

    def state(self) -> dict[str, Any]:
        return {
            "failing_probes": {
                probe: ("until switched back" if left is None else left)
                for probe, left in self.failing_probes.items()
            },
            "latency_ms": self.latency_ms,
            "error_percent": self.error_percent,
        }

    @property
    def active(self) -> bool:
        return bool(self.failing_probes or self.latency_ms or self.error_percent)

    def describe(self) -> list[str]:
        """One line per switch that is on, for the card."""
        lines = []
        for probe, left in self.failing_probes.items():
            how_long = "until switched back" if left is None else f"for {left} more checks"
            lines.append(f"/{probe} fails on purpose {how_long}")
        if self.latency_ms:
            lines.append(f"every request waits {self.latency_ms} ms on purpose")
        if self.error_percent:
            lines.append(f"{self.error_percent:g}% of requests fail on purpose")
        return lines


class ChaosMiddleware:
    """Latency and errors on the app's own routes, never on the exempt ones."""

    def __init__(self, app: ASGIApp, chaos: Chaos, prefix: str = "") -> None:
        self.app = app
        self.chaos = chaos
        self.exempt = EXEMPT + tuple(prefix + path for path in EXEMPT) if prefix else EXEMPT

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chaos = self.chaos
        if scope["type"] == "http" and chaos.active and not scope["path"].startswith(self.exempt):
            if chaos.latency_ms:
                await asyncio.sleep(chaos.latency_ms / 1000)
            if chaos.error_percent and random.uniform(0, 100) < chaos.error_percent:
                response = Response(
                    f"Error: failure injected by chaos ({chaos.error_percent:g}% of requests)\n",
                    status_code=503,
                    media_type="text/plain",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


router = APIRouter(prefix="/chaos", tags=["chaos"])


def _chaos(request: Request) -> Chaos:
    chaos: Chaos = request.app.state.chaos
    return chaos


def _bad(message: str) -> Response:
    return json_response({"error": message}, 400)


def _number(request: Request, name: str, low: float, high: float) -> float | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}")
    return value


@router.get("", summary="The chaos switches and their state")
async def get_state(request: Request) -> Response:
    return json_response(_chaos(request).state())


@router.delete("", summary="Every switch back to normal")
async def reset(request: Request) -> Response:
    chaos = _chaos(request)
    chaos.failing_probes.clear()
    chaos.latency_ms, chaos.error_percent = 0, 0.0
    return json_response(chaos.state())


@router.post("/probes/{probe}", summary="Make a probe fail: ?count=N checks, or until deleted")
async def fail_probe(request: Request, probe: str) -> Response:
    if probe not in PROBES:
        return _bad(f"probe must be one of {', '.join(PROBES)}")
    try:
        count = _number(request, "count", 1, 1_000_000)
    except ValueError as error:
        return _bad(str(error))
    if count is not None and not count.is_integer():
        return _bad("count must be a whole number")
    chaos = _chaos(request)
    chaos.failing_probes[probe] = int(count) if count is not None else None
    return json_response(chaos.state())


@router.delete("/probes/{probe}", summary="Make a probe answer honestly again")
async def heal_probe(request: Request, probe: str) -> Response:
    if probe not in PROBES:
        return _bad(f"probe must be one of {', '.join(PROBES)}")
    chaos = _chaos(request)
    chaos.failing_probes.pop(probe, None)
    return json_response(chaos.state())


@router.post("/latency", summary="Add ?ms= of latency to every app route (0 to switch off)")
async def set_latency(request: Request) -> Response:
    try:
        ms = _number(request, "ms", 0, MAX_LATENCY_MS)
    except ValueError as error:
        return _bad(str(error))
    if ms is None:
        return _bad("give ?ms=")
    chaos = _chaos(request)
    chaos.latency_ms = int(ms)
    return json_response(chaos.state())


@router.post("/errors", summary="Answer ?percent= of app requests with 503 (0 to switch off)")
async def set_errors(request: Request) -> Response:
    try:
        percent = _number(request, "percent", 0, 100)
    except ValueError as error:
        return _bad(str(error))
    if percent is None:
        return _bad("give ?percent=")
    chaos = _chaos(request)
    chaos.error_percent = percent
    return json_response(chaos.state())
