"""What every role serves besides its own routes: probes, metrics, request ids
and the access log, security headers, graceful shutdown, and (with -chaos) the
chaos switches."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from awsme.ops import chaos, metrics, probes
from awsme.ops.exercises import ResourceExercises
from awsme.ops.group_state import GroupState
from awsme.ops.observe import RequestObserver
from awsme.ops.security_headers import DATA_HEADERS, PAGE_HEADERS, SecurityHeadersMiddleware
from awsme.ops.shutdown import Shutdown
from awsme.settings import Settings

# FastAPI's own OpenTelemetry hooks, off: every role counts, times and logs each
# request itself (/metrics, the access log), and with the hooks on FastAPI asks the
# global OpenTelemetry providers, through os.environ, on every request.
NO_FASTAPI_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}


def install_operations(
    app: FastAPI,
    settings: Settings,
    *,
    role: str,
    checks: dict[str, probes.HealthCheck],
    shutdown: Shutdown,
    prefixes: tuple[str, ...] = ("",),
    readiness: dict[str, probes.ReadinessCheck] | None = None,
    served_by: str,
) -> metrics.Metrics:
    """Mount the operational routes at each prefix; returns the app's metrics.

    `checks` are the role's dependencies, for /healthz; `readiness` says whether
    this process can serve, for /readyz, and must never ask a dependency.
    `served_by` names this replica in every answer's X-Served-By."""
    app.state.probes = probes.Probes(checks=checks, shutdown=shutdown, readiness=readiness or {})
    app.state.metrics = metrics.Metrics(role=role)
    if settings.chaos:
        group = GroupState.attach()
        # Exercises stop as soon as shutdown begins (SIGTERM), not when it ends.
        exercises = ResourceExercises(group, stopping=lambda: shutdown.begun)
        app.state.chaos = chaos.Chaos(group, exercises)
        app.add_middleware(chaos.ChaosMiddleware, chaos=app.state.chaos, prefix=prefixes[-1])
    # Added after chaos, so outside it: it times and counts what chaos adds too.
    app.add_middleware(
        RequestObserver,
        metrics=app.state.metrics,
        access_log_enabled=settings.access_log,
        served_by=served_by,
    )
    # Outermost of ours: the observer's own 500s get the headers too.
    headers = PAGE_HEADERS if role == "frontend" else DATA_HEADERS
    app.add_middleware(SecurityHeadersMiddleware, headers=headers)
    for prefix in dict.fromkeys(prefixes):
        app.include_router(probes.router, prefix=prefix)
        app.include_router(metrics.router, prefix=prefix)
        if settings.chaos:
            app.include_router(chaos.router, prefix=prefix)
    result: metrics.Metrics = app.state.metrics
    return result
