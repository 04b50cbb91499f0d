"""`/healthz`, `/livez`, `/readyz` and `/version`, shared by every role.

Three questions, three answers. `/livez`: is the process alive? `/readyz`: can
this process serve? (started, its first metadata fetch finished, with values or
with its error, and not shutting down). `/healthz`: can the role do its job?
(the backend's database answers; the frontend's backend answers).

Readiness never asks a shared dependency: if it followed the database, a
database outage would take every backend out of its Service at once, and then
every frontend out of the load balancer, although each could still answer
(the backend with its metadata, the frontend with a card that says what is
wrong). That is the cascading-readiness mistake; /healthz is where a dependency
shows. Liveness depends on nothing outside the process, so that an outage does
not make Kubernetes restart every pod; readiness turns off first when shutdown
begins (podinfo's order).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from awsme.metadata.cache import MetadataCache
from awsme.ops.shutdown import Shutdown
from awsme.version import VERSION

# A check returns None when its dependency is fine, else what is wrong.
HealthCheck = Callable[[], Awaitable[str | None]]
# Readiness looks only inside the process: it answers at once, waiting on nothing.
ReadinessCheck = Callable[[], str | None]

CHECK_TIMEOUT = 2.0


@dataclass
class Probes:
    checks: dict[str, HealthCheck] = field(default_factory=dict)
    shutdown: Shutdown = field(default_factory=Shutdown)
    readiness: dict[str, ReadinessCheck] = field(default_factory=dict)

    async def failures(self) -> list[str]:
        names = list(self.checks)
        results = await asyncio.gather(*(self._run(self.checks[name]) for name in names))
        return [f"{name}: {reason}" for name, reason in zip(names, results, strict=True) if reason]

    def not_ready(self) -> list[str]:
        if self.shutdown.begun:
            return ["shutting down"]
        return [f"{name}: {why}" for name, check in self.readiness.items() if (why := check())]

    @staticmethod
    async def _run(check: HealthCheck) -> str | None:
        try:
            return await asyncio.wait_for(check(), CHECK_TIMEOUT)
        except TimeoutError:
            return f"no answer within {CHECK_TIMEOUT:g}s"


def first_metadata_fetch(cache: MetadataCache) -> ReadinessCheck:
    """Ready once the first fetch has finished, with values or with its error: the
    first answers then say where the process runs, or why it cannot tell."""

    def check() -> str | None:
        snapshot = cache.snapshot()
        if snapshot.metadata is None and snapshot.error is None:
            return f"the first fetch from {snapshot.source} has not finished"
        return None

    return check


router = APIRouter(tags=["operations"])


def _chaos_says_fail(request: Request, probe: str) -> PlainTextResponse | None:
    chaos = getattr(request.app.state, "chaos", None)  # only with -chaos
    if chaos is not None and chaos.probe_fails(probe):
        return PlainTextResponse(f"chaos: /{probe} fails on purpose\n", status_code=503)
    return None


def _answer(failures: list[str]) -> PlainTextResponse:
    if failures:
        return PlainTextResponse("\n".join(failures) + "\n", status_code=503)
    return PlainTextResponse("ok\n")


@router.get("/healthz", summary="200 when this role can do its job, else 503 and why")
@router.head("/healthz", include_in_schema=False)
async def healthz(request: Request) -> PlainTextResponse:
    if failing := _chaos_says_fail(request, "healthz"):
        return failing
    probes: Probes = request.app.state.probes
    return _answer(await probes.failures())


@router.get("/livez", summary="200 while the process can serve, whatever its dependencies do")
@router.head("/livez", include_in_schema=False)
async def livez(request: Request) -> PlainTextResponse:
    if failing := _chaos_says_fail(request, "livez"):
        return failing
    return PlainTextResponse("ok\n")


@router.get(
    "/readyz",
    summary="200 while this process can serve, whatever its dependencies do; "
    "503 as soon as shutdown has begun",
)
@router.head("/readyz", include_in_schema=False)
async def readyz(request: Request) -> PlainTextResponse:
    if failing := _chaos_says_fail(request, "readyz"):
        return failing
    probes: Probes = request.app.state.probes
    return _answer(probes.not_ready())


@router.get("/version", summary="the version, as text")
@router.head("/version", include_in_schema=False)
async def version() -> PlainTextResponse:
    return PlainTextResponse(VERSION + "\n")
