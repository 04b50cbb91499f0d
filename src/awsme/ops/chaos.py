"""`-chaos`: switches a workshop presenter flips over HTTP to show what probes,
rollouts and load balancers do when things go wrong (kuard's and podinfo's
levers). Without -chaos none of these routes exist.

    POST   /chaos/probes/readyz?count=3   the next 3 /readyz checks fail
    POST   /chaos/probes/livez            /livez fails until switched back
    DELETE /chaos/probes/livez            switched back
    POST   /chaos/latency?ms=500          every app route waits 500 ms first
    POST   /chaos/errors?percent=20       20% of app requests answer 503
    POST   /chaos/cpu?percent=50&seconds=60  burn CPU (awsme.ops.exercises)
    POST   /chaos/memory?mb=100           hold memory until DELETE /chaos/memory
    GET    /chaos                         the current state
    DELETE /chaos                         everything back to normal

Probes, /metrics, /version and /chaos itself are exempt from latency and errors,
so that the switches stay reachable and Prometheus keeps seeing the pod. Under
-workers=N the switches are shared by every worker (awsme.ops.group_state).
"""

from __future__ import annotations

import asyncio
import math
import random
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from awsme.jsonresponse import json_response
from awsme.ops.exercises import Refused, ResourceExercises
from awsme.ops.group_state import PROBE_OFF, PROBE_UNTIL_SWITCHED_BACK, PROBES, GroupState, Switches

EXEMPT = ("/healthz", "/livez", "/readyz", "/metrics", "/version", "/chaos", "/static/")
MAX_LATENCY_MS = 60_000


class Chaos:
    """The switches, kept in the process group's shared state: under -workers=N a
    switch flipped through any worker holds in every worker, and a probe set to
    fail for N checks fails N times in all, whichever workers answer."""

    def __init__(
        self, group: GroupState | None = None, exercises: ResourceExercises | None = None
    ) -> None:
        self.group = GroupState.private() if group is None else group
        self.exercises = ResourceExercises(self.group) if exercises is None else exercises

    @property
    def latency_ms(self) -> int:
        return self.group.switches().latency_ms

    @property
    def error_percent(self) -> float:
        return self.group.switches().error_percent

    @property
    def failing_probes(self) -> dict[str, int | None]:
        """probe -> failures left (None: until switched back)"""
        return {
            probe: (None if left == PROBE_UNTIL_SWITCHED_BACK else left)
            for probe, left in zip(PROBES, self.group.switches().probes, strict=True)
            if left != PROBE_OFF
        }

    def _change(
        self,
        *,
        latency_ms: int | None = None,
        error_percent: float | None = None,
        probe: tuple[str, int] | None = None,
    ) -> None:
        with self.group.locked():
            current = self.group.switches()
            probes = list(current.probes)
            if probe is not None:
                probes[PROBES.index(probe[0])] = probe[1]
            self.group.set_switches(
                Switches(
                    current.latency_ms if latency_ms is None else latency_ms,
                    current.error_percent if error_percent is None else error_percent,
                    (probes[0], probes[1], probes[2]),
                )
            )

    def fail_probe(self, probe: str, count: int | None) -> None:
        self._change(probe=(probe, PROBE_UNTIL_SWITCHED_BACK if count is None else count))

    def heal_probe(self, probe: str) -> None:
        self._change(probe=(probe, PROBE_OFF))

    def set_latency(self, ms: int) -> None:
        self._change(latency_ms=ms)

    def set_errors(self, percent: float) -> None:
        self._change(error_percent=percent)

    def reset(self) -> None:
        with self.group.locked():
            self.group.set_switches(Switches(0, 0.0, (PROBE_OFF, PROBE_OFF, PROBE_OFF)))
        self.exercises.stop_all()

    def probe_fails(self, probe: str) -> bool:
        """Whether this check of `probe` must fail; counts one failure down."""
        index = PROBES.index(probe)
        if self.group.switches().probes[index] == PROBE_OFF:
            return False  # the common case, without taking the lock
        with self.group.locked():
            current = self.group.switches()
            left = current.probes[index]
            if left == PROBE_OFF:
                return False
            if left != PROBE_UNTIL_SWITCHED_BACK:
                probes = list(current.probes)
                probes[index] = left - 1
                self.group.set_switches(current._replace(probes=(probes[0], probes[1], probes[2])))
            return True

    def state(self) -> dict[str, Any]:
        switches = self.group.switches()
        return {
            "failing_probes": {
                probe: ("until switched back" if left is None else left)
                for probe, left in self.failing_probes.items()
            },
            "latency_ms": switches.latency_ms,
            "error_percent": switches.error_percent,
            **self.exercises.state(),
        }

    @property
    def active(self) -> bool:
        switches = self.group.switches()
        wanted = self.group.exercises()
        return bool(
            switches.latency_ms
            or switches.error_percent
            or any(switches.probes)
            or wanted.cpu_percent
            or wanted.memory_mb
        )

    def describe(self) -> list[str]:
        """One line per switch that is on, for the card."""
        lines = []
        for probe, left in self.failing_probes.items():
            how_long = "until switched back" if left is None else f"for {left} more checks"
            lines.append(f"/{probe} fails on purpose {how_long}")
        switches = self.group.switches()
        if switches.latency_ms:
            lines.append(f"every request waits {switches.latency_ms} ms on purpose")
        if switches.error_percent:
            lines.append(f"{switches.error_percent:g}% of requests fail on purpose")
        return lines + self.exercises.describe()


class ChaosMiddleware:
    """Latency and errors on the app's own routes, never on the exempt ones."""

    def __init__(self, app: ASGIApp, chaos: Chaos, prefix: str = "") -> None:
        self.app = app
        self.chaos = chaos
        self.exempt = EXEMPT + tuple(prefix + path for path in EXEMPT) if prefix else EXEMPT

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        switches = self.chaos.group.switches()
        if (
            scope["type"] == "http"
            and (switches.latency_ms or switches.error_percent)
            and not scope["path"].startswith(self.exempt)
        ):
            if switches.latency_ms:
                await asyncio.sleep(switches.latency_ms / 1000)
            percent = switches.error_percent
            if percent and random.uniform(0, 100) < percent:
                response = Response(
                    f"Error: failure injected by chaos ({percent:g}% of requests)\n",
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
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}")
    return value


@router.get("", summary="The chaos switches and their state")
async def get_state(request: Request) -> Response:
    return json_response(_chaos(request).state())


@router.delete("", summary="Every switch back to normal")
async def reset(request: Request) -> Response:
    chaos = _chaos(request)
    chaos.reset()
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
    chaos.fail_probe(probe, int(count) if count is not None else None)
    return json_response(chaos.state())


@router.delete("/probes/{probe}", summary="Make a probe answer honestly again")
async def heal_probe(request: Request, probe: str) -> Response:
    if probe not in PROBES:
        return _bad(f"probe must be one of {', '.join(PROBES)}")
    chaos = _chaos(request)
    chaos.heal_probe(probe)
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
    chaos.set_latency(int(ms))
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
    chaos.set_errors(percent)
    return json_response(chaos.state())


@router.post("/cpu", summary="Burn ?percent= of a core (default: the CPU limit) for ?seconds=")
async def start_cpu(request: Request) -> Response:
    chaos = _chaos(request)
    try:
        percent = _number(request, "percent", -math.inf, math.inf)
        seconds = _number(request, "seconds", -math.inf, math.inf)
        chaos.exercises.start_cpu(percent, seconds)
    except ValueError as error:
        return _bad(str(error))
    return json_response(chaos.state())


@router.delete("/cpu", summary="Stop burning CPU")
async def stop_cpu(request: Request) -> Response:
    chaos = _chaos(request)
    chaos.exercises.stop_cpu()
    return json_response(chaos.state())


@router.post("/memory", summary="Hold ?mb= of memory until deleted (above the limit: OOM kill)")
async def start_memory(request: Request) -> Response:
    chaos = _chaos(request)
    try:
        mb = _number(request, "mb", -math.inf, math.inf)
        if mb is None:
            raise Refused("give ?mb=")
        chaos.exercises.start_memory(mb)
    except ValueError as error:
        return _bad(str(error))
    return json_response(chaos.state())


@router.delete("/memory", summary="Let the held memory go")
async def stop_memory(request: Request) -> Response:
    chaos = _chaos(request)
    chaos.exercises.stop_memory()
    return json_response(chaos.state())
